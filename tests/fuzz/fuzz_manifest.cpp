// fuzz_manifest_yaml, fuzz_manifest_json: one file through the manifest
// reader as `sluice ir FILE` reads it (loadManifestText, then the duplicate
// check and finalize() that loadManifests adds), the state dumped and every
// diagnostic rendered with its source line. The two targets are this code;
// they differ in seeds and dictionary (tools/fuzz, dict/).
//
// Besides the sanitizers, one promise is checked: rendered diagnostics are
// safe to print (base/diagnostics.h): no control character but the tab of a
// quoted source line and the newline ending each line, no C1 control code.
#include <cstdint>
#include <string>

#include "base/diagnostics.h"
#include "frontend/cluster_state.h"
#include "frontend/manifest_loader.h"
#include "tests/fuzz/check.h"

namespace {

void checkPrintable(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    FUZZ_CHECK(c >= 0x20 || c == '\t' || c == '\n', "control byte 0x%02x at %zu of the rendered diagnostics", c, i);
    FUZZ_CHECK(c != 0x7f, "DEL at %zu of the rendered diagnostics", i);
    bool c1 = c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0 &&
              static_cast<unsigned char>(text[i + 1]) >= 0x80;
    FUZZ_CHECK(!c1, "C1 control code at %zu of the rendered diagnostics", i);
  }
  FUZZ_CHECK(text.empty() || text.back() == '\n', "rendered diagnostics do not end with a newline");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::ClusterState state;
  sluice::Diagnostics diags;
  sluice::loadManifestText("fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size), state, diags);
  sluice::checkDuplicates(state, diags);
  state.finalize();
  std::string dump = state.dump();
  checkPrintable(diags.render());
  checkPrintable(diags.render(false));
  return 0;
}
