#include <iostream>
#include "frontend/manifest_loader.h"
int main(int argc, char** argv) {
  std::vector<std::string> paths(argv + 1, argv + argc);
  auto r = sluice::loadCluster(paths);
  std::cerr << r.diags.render();
  std::cout << r.state.dump();
  return r.ok() ? 0 : 1;
}
