/* The first tier's datapath bitcode (datapath/datapath_tier.bpf.c), embedded in the compiler. */
  .section .rodata
  .global sluice_datapath_tier_bc
  .global sluice_datapath_tier_bc_end
  .balign 16
sluice_datapath_tier_bc:
  .incbin DATAPATH_TIER_BC
sluice_datapath_tier_bc_end:
  .byte 0
  .section .note.GNU-stack,"",@progbits
