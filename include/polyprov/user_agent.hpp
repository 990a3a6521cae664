// What a phone's User-Agent says about it. Polycom/Poly firmware names its
// product line, model and firmware version in one token:
//   FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application
//   FileTransport PolycomSoundPointIP-SPIP_550-UA/4.0.15.1047 (SN:0004f2000001) Type/Application
//   FileTransport PolyEdge-Edge_E450-UA/8.0.1.0123 Type/Application
// The phone's browser (Microbrowser/...) carries such a token only on some
// firmware; without one, nothing is known but the text itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

struct PhoneAgent {
    std::string family;    // "VVX", "SoundPointIP", "Edge"
    std::string model;     // "VVX_500", as the token names it
    std::string firmware;  // "5.9.7.4477"
};

// The first "Polycom<family>-<model>-UA/<version>" (or "Poly...") token of
// `user_agent`; nullopt when there is none. Never throws on any input.
std::optional<PhoneAgent> parse_user_agent(std::string_view user_agent);

}  // namespace polyprov
