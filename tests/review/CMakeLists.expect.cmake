# `sluice test` (review/expectations.h): expectations files refused with
# located diagnostics, the port intervals of `ports: any`, checks through a
# scripted evaluator, and on the real programs in this kernel (root: those
# fail, never skip, without it).
sluice_test(expectations_test expectations_test.cpp expectations_check_test.cpp)
target_link_libraries(expectations_test PRIVATE sluice_review_expect sluice_frontend sluice_ir)

# The command as a user runs it (the built binary): exit statuses 0, 1 and 2 (root).
sluice_test(expectations_cli_test expectations_cli_test.cpp)
target_compile_definitions(expectations_cli_test PRIVATE SLUICE_BIN="$<TARGET_FILE:sluice>")
add_dependencies(expectations_cli_test sluice)
