/* Generic mode's datapath library bitcode (datapath/datapath_generic.bpf.c), embedded in the compiler. */
  .section .rodata
  .global sluice_datapath_generic_bc
  .global sluice_datapath_generic_bc_end
  .balign 16
sluice_datapath_generic_bc:
  .incbin DATAPATH_GENERIC_BC
sluice_datapath_generic_bc_end:
  .byte 0
  .section .note.GNU-stack,"",@progbits
