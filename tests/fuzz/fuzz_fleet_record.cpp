// Fleet entries come back from a cache that other servers write (memcache,
// redis): whatever is there, decoding must fail safe. What does decode is
// exactly what encode writes (or the older layout, written anew), merges,
// and renders as valid JSON; an event applied to it gives what merging the
// event's record gives.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <polyprov/fleet_index.hpp>
#include <polyprov/fleet_record.hpp>
#include <polyprov/fleet_render.hpp>
#include <polyprov/json_reader.hpp>

using namespace polyprov;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    if (const auto record = decode_device_record(bytes)) {
        // Exactly what encode writes; a record of the layout before
        // not-shared ('D', eight denial counts) is read and written anew.
        const std::string again = encode(*record);
        if (bytes.size() > 1 && bytes[1] == 'D') {
            const auto reread = decode_device_record(again);
            if (!reread || encode(*reread) != again) std::abort();
        } else if (again != bytes) {
            std::abort();
        }
        DeviceRecord twice = *record;
        merge(twice, *record);
        FleetSnapshot snapshot;
        snapshot.nodes = {"fuzz:443"};
        snapshot.records = {*record, twice};
        FleetPageContext context;
        context.node = "fuzz:443";
        context.now = 1767225600;
        const std::string json = render_fleet_json(snapshot, context);
        std::string error;
        if (!JsonValue::parse(json, error)) std::abort();
        (void)render_fleet_html(snapshot, summarize(snapshot, context.now, context.query), context);

        // An event on top of it: apply() must give what merging the
        // event's own record gives (it writes the common case in place).
        FleetEvent e;
        e.time = record->last_activity() + static_cast<EventTime>(size % 3) - 1;
        e.mac = record->mac;
        e.authenticated = (size & 4) == 0;
        e.decision = static_cast<FleetDecision>(size % kFleetDecisions);
        e.method = (size & 8) ? "PUT" : "GET";
        e.status = (size & 16) ? 304 : 200;
        e.path = (size & 32) ? std::string(bytes.substr(0, 300)) + ".cfg" : record->latest.request.path;
        e.user_agent = std::string(bytes.substr(bytes.size() / 2));
        e.address = record->latest.address;
        e.label = record->latest.label;
        e.body_bytes = size;
        DeviceRecord applied = *record, merged = *record;
        apply(applied, e);
        merge(merged, record_of(e));
        if (encode(applied) != encode(merged)) std::abort();
    }
    if (const auto shard = IndexShard::decode(bytes))
        if (shard->encode() != bytes) std::abort();
    if (const auto dir = NodeDirectory::decode(bytes))
        if (dir->encode() != bytes) std::abort();
    return 0;
}
