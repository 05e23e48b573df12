// The op registry and the small helpers every op uses.
#include "op.h"

#include "../error.h"

namespace sl::train {

namespace {

/** Function-local, so that registrations from other files' static initialisers find it built. */
std::map<std::string, OpDefinition>& registry() {
  static std::map<std::string, OpDefinition> ops;
  return ops;
}

}  // namespace

std::string shapeText(const Shape& s) {
  std::string text = "[";
  for (size_t i = 0; i < s.size(); i++) text += (i ? ", " : "") + std::to_string(s[i]);
  return text + "]";
}

int64_t Attributes::i(const std::string& name, int64_t fallback) const {
  auto it = ints.find(name);
  return it == ints.end() ? fallback : it->second;
}

double Attributes::f(const std::string& name, double fallback) const {
  auto it = floats.find(name);
  return it == floats.end() ? fallback : it->second;
}

std::vector<int64_t> Attributes::list(const std::string& name, const std::vector<int64_t>& fallback) const {
  auto it = intLists.find(name);
  return it == intLists.end() ? fallback : it->second;
}

std::string Attributes::s(const std::string& name, const std::string& fallback) const {
  auto it = strings.find(name);
  return it == strings.end() ? fallback : it->second;
}

void opError(const Node& node, const std::string& message) { throw Error(node.op + " node \"" + node.name + "\": " + message); }

const OpDefinition* findOp(const std::string& op) {
  auto it = registry().find(op);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> registeredOps() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;  // the map keeps them sorted
}

bool registerOp(const std::string& op, const OpDefinition& definition) {
  registry()[op] = definition;
  return true;
}

}  // namespace sl::train
