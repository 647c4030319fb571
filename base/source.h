// Source files and positions. Every object and field the frontend reads keeps
// the SourceLoc it came from, so diagnostics and IR provenance can name
// file:line:col. Lines and columns are 1-based; 0 means "unknown".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct SourceLoc;

class SourceFile {
 public:
  SourceFile(std::string name, std::string contents);

  std::string name;            // as given by the user ("-" shows as "<stdin>")
  const std::string contents;  // kept so diagnostics can quote the offending line

  std::string_view line(uint32_t number) const;  // 1-based; empty if out of range
  // The 1-based line and column (in characters) of a byte offset.
  std::pair<uint32_t, uint32_t> lineCol(size_t offset) const;

 private:
  // Where each line starts, indexed once: quoting 40,000 diagnostics must
  // not walk the file from its start for each.
  std::vector<size_t> lineStarts_;
};

struct SourceLoc {
  std::shared_ptr<const SourceFile> file;
  uint32_t line = 0;
  uint32_t col = 0;

  bool known() const { return file && line > 0; }
  const std::string& fileName() const;
  // "file:line:col", or "file" / "<unknown>" when parts are missing.
  std::string str() const;
  // "file:line" — the short form used for provenance in IR text.
  std::string fileLine() const;
};

// The location of a byte offset in a file.
SourceLoc locAt(const std::shared_ptr<const SourceFile>& file, size_t offset);

}  // namespace sluice
