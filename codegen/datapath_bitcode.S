/* The datapath library's bitcode, embedded in the compiler. */
  .section .rodata
  .global sluice_datapath_bc
  .global sluice_datapath_bc_end
  .balign 16
sluice_datapath_bc:
  .incbin DATAPATH_BC
sluice_datapath_bc_end:
  .byte 0
  .section .note.GNU-stack,"",@progbits
