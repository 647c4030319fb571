// The pictures of the review commands: `sluice reach --output dot|svg|html`
// and `sluice diff --output html|svg`. A Graph becomes Graphviz DOT text,
// Graphviz lays it out as SVG, and the SVG goes inline into one
// self-contained HTML page with a table of the edges under it.
#pragma once

#include <string>
#include <string_view>

#include "review/review_model.h"

namespace sluice::review {

// Graphviz DOT text for `g`: one cluster per namespace, a rounded box per
// workload, an ellipse per service, an edge per Edge labelled with its probes.
// A partly held edge (pairs < ofPairs) is dashed; in a diff, opened edges are
// green and bold, closed ones red, unchanged ones grey, and a legend says so.
// The same graph always gives the same text.
std::string toDot(const Graph& g, const std::string& title);

// Lays `dot` out with Graphviz (`dot -Tsvg`, found on PATH). On failure returns
// false and says why in `error`: `dot` missing, or its exit status and message.
bool renderSvg(const std::string& dot, std::string& svg, std::string& error);

// One HTML page needing no other file: `title`, `svg` inline (omitted when
// empty), then `tableHtml` or, when that is empty, a table of g's edges.
std::string toHtml(const Graph& g, const std::string& title, const std::string& svg, const std::string& tableHtml);

// Text made safe for HTML content and attribute values (& < > " ').
std::string htmlEscape(std::string_view text);

}  // namespace sluice::review
