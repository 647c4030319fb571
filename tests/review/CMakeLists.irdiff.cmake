# The IR diff of `sluice diff` (review/ir_diff.h), on samples/review; no kernel.
sluice_test(ir_diff_test ir_diff_test.cpp)
target_link_libraries(ir_diff_test PRIVATE sluice_review sluice_frontend sluice_ir)
