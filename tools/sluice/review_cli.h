// What the review commands (reach, diff, test) share on the command line:
// input and engine options, probes, loading a state into a Reachability,
// the decision in JSON, pictures.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "frontend/manifest_loader.h"
#include "review/reachability.h"
#include "review/review_model.h"
#include "tools/sluice/cli_common.h"

namespace sluice::cli {

struct ReviewOptions {
  InputOptions input;
  std::string datapath = "specialized";
  bool exhaustive = false;
  unsigned jobs = 2;
};

// PATH..., --verbose, --cluster-name, --datapath, --exhaustive, -j.
void addReviewOptions(CLI::App& cmd, ReviewOptions& opts, bool withPaths = true);

// "80/TCP"... ; exits with kExitUsage on a bad one.
std::vector<review::PortProbe> parseProbes(const std::vector<std::string>& texts, const std::string& option = "--port");

// A loaded state and its (not yet evaluated) reachability; the state lives as
// long as the engine that points into it.
struct ReviewInput {
  std::unique_ptr<LoadResult> load;
  std::unique_ptr<review::Reachability> reach;
};
// Loads `paths` (the options' own when empty), lowers and groups; prints
// diagnostics; exits with kExitInputError on errors.
ReviewInput loadReview(const ReviewOptions& opts, const std::vector<std::string>& paths = {});
ReviewInput loadReviewState(const ReviewOptions& opts, std::unique_ptr<LoadResult> load);

// Evaluates, printing a one-line summary to stderr (`label`: the state's
// name in a diff); exits with kExitInputError when a probe cannot run.
void evaluateOrExit(review::Reachability& reach, const std::function<bool(size_t, size_t)>& wanted,
                    const std::vector<review::PortProbe>& probes, Diagnostics& diags, const ReviewOptions& opts,
                    const std::string& label = "");

// "LABEL: N pods in C classes: ..." on stderr: what the engine ran.
void printReachStats(const review::Reachability& reach, const std::string& label);

nlohmann::ordered_json decisionJson(const review::Decision& d);
// "denied by np.x.y (NetworkPolicy x/y spec.ingress[0]) @ file:line" — one line.
std::string decisionText(const review::Decision& d);

inline constexpr const char* kPictureFormatsHelp =
    "dot: the Graphviz source of a picture of namespaces, workloads (a deployment's pods are one node) and the "
    "allowed connections between them; svg: that picture laid out by Graphviz's dot; html: one page with the "
    "picture and a table of its edges";
// Prints the graph as dot, svg or html on stdout; exits with kExitInputError
// when Graphviz fails.
void printPicture(const review::Graph& g, const std::string& title, const std::string& format,
                  const std::string& tableHtml);

}  // namespace sluice::cli
