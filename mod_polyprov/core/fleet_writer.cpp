#include <polyprov/fleet_writer.hpp>

#include <algorithm>
#include <set>

namespace polyprov {
namespace {

// How many MACs a process remembers having indexed (about 40 bytes each).
constexpr std::size_t kMaxAsserted = 262144;

class Held {
public:
    explicit Held(FleetCache& cache) : cache_(cache), held_(cache.hold()) {}
    ~Held() {
        if (held_) cache_.release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    bool ok() const noexcept { return held_; }

private:
    FleetCache& cache_;
    bool held_;
};

}  // namespace

FleetWriter::FleetWriter(std::string node_name, std::int64_t expire_seconds, NodeTally* tally)
    : node_(std::move(node_name)),
      id_(node_id(node_)),
      expire_(expire_seconds),
      tally_(tally),
      index_refresh_(std::max<UnixTime>(1, std::min<UnixTime>(kIndexRefresh, expire_seconds / 4))) {}

bool FleetWriter::write_directory(FleetCache& cache, UnixTime now, FlushReport& report) {
    const auto status = cache.update(node_directory_key(), now + expire_, [&](const std::string* current) {
        std::optional<NodeDirectory> dir;
        if (current && !(dir = NodeDirectory::decode(*current))) ++report.unreadable;
        if (!dir) dir.emplace();
        dir->prune(now - expire_);
        dir->assert_node(node_, now);
        return std::optional<std::string>(dir->encode());
    });
    if (status == FleetCache::Status::failed) return false;
    directory_written_ = now;
    return true;
}

FlushReport FleetWriter::flush(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now,
                               const std::vector<std::size_t>& sweep) {
    FlushReport report = write(cache, pending, now, sweep);
    // The cache may come back empty (a restarted memcached): then the
    // index needs every MAC again, at once.
    if (report.failed) forget();
    return report;
}

std::optional<ManifestPart> FleetWriter::rebuild_part(FleetCache& cache, std::size_t part) {
    ManifestPart rebuilt(part);
    std::string bytes;
    for (std::size_t shard = part * kShardsPerPart; shard < (part + 1) * kShardsPerPart; ++shard) {
        const auto status = cache.get(index_key(id_, shard), bytes);
        if (status == FleetCache::Status::failed) return std::nullopt;
        if (status == FleetCache::Status::missing) continue;
        if (const auto index = IndexShard::decode(bytes)) rebuilt.set_count(shard, index->entries().size());
    }
    return rebuilt;
}

std::optional<FleetWriter::Known> FleetWriter::read_manifest(FleetCache& cache, const std::vector<std::size_t>& parts,
                                                             UnixTime now, FlushReport& report) {
    Known known;
    std::string bytes;
    const auto summary_status = cache.get(summary_key(id_), bytes);
    if (summary_status == FleetCache::Status::failed) return std::nullopt;
    std::optional<NodeSummary> summary;
    if (summary_status == FleetCache::Status::ok && !(summary = NodeSummary::decode(bytes))) ++report.unreadable;

    // None yet (the node's first write), or lost: counted again from the
    // parts, and each part that is missing too from its shards. What was
    // lost with the summary and its part cannot be counted.
    std::vector<std::size_t> wanted = parts;
    if (!summary)
        for (std::size_t p = 0; p < kManifestParts; ++p) wanted.push_back(p);
    for (const std::size_t p : wanted) {
        if (known.parts.count(p)) continue;
        const auto status = cache.get(manifest_key(id_, p), bytes);
        if (status == FleetCache::Status::failed) return std::nullopt;
        std::optional<ManifestPart> part;
        if (status == FleetCache::Status::ok && !(part = ManifestPart::decode(p, bytes))) ++report.unreadable;
        if (!part) {
            part = rebuild_part(cache, p);
            if (!part) return std::nullopt;
            // The summary counted more than the shards still hold: the
            // part went, and shards with it.
            if (summary && summary->total(p) > part->total()) report.cache_evicted += summary->total(p) - part->total();
        }
        known.parts.emplace(p, *part);
    }
    if (summary) {
        known.summary = *summary;
    } else {
        for (const auto& [p, part] : known.parts) known.summary.set_total(p, part.total());
        if (known.summary.total()) report.manifest_lost = true;
        // Gone with everything it counted (a cache emptied at once): only
        // the node's own memory says there was anything.
        const std::uint64_t remembered = tally_ ? tally_->recent(now, expire_) : 0;
        if (remembered > known.summary.total()) {
            report.cache_evicted += remembered - known.summary.total();
            report.manifest_lost = true;
        }
    }
    return known;
}

FleetCache::Status FleetWriter::write_record(FleetCache& cache, const DeviceRecord& delta, UnixTime now,
                                             FlushReport& report) {
    const auto status = cache.update(record_key(id_, delta.mac), now + expire_, [&](const std::string* current) {
        std::optional<DeviceRecord> record;
        if (current && !(record = decode_device_record(*current))) ++report.unreadable;
        if (!record || record->mac != delta.mac) record.emplace(delta.mac);
        merge(*record, delta);
        return std::optional<std::string>(encode(*record));
    });
    if (status != FleetCache::Status::failed) ++report.records_written;
    return status;
}

FleetCache::Status FleetWriter::admit_refused(FleetCache& cache, std::size_t shard,
                                              std::vector<const DeviceRecord*>& deltas, UnixTime now,
                                              FlushReport& report) {
    std::string bytes;
    const auto status = cache.get(index_key(id_, shard), bytes);
    if (status == FleetCache::Status::failed) return status;
    std::optional<IndexShard> index;
    if (status == FleetCache::Status::ok) index = IndexShard::decode(bytes);
    if (!index) index.emplace();
    index->prune(now - expire_ - kIndexSlack);
    std::vector<const DeviceRecord*> kept;
    for (const DeviceRecord* d : deltas) {
        // A MAC with no room leaves the index as it was: what follows is
        // computed the same without it.
        if (index->add(d->mac, seconds_of(d->last_activity()), d->is_device()).refused_dropped) {
            ++report.refused_dropped;
            continue;
        }
        kept.push_back(d);
    }
    // Each record before the index names it, as a device's is; none for a
    // MAC a later one of the batch pushes out again (the update will find
    // the same, with every one of them: it must, to end where this did).
    const auto named = [&](Mac mac) {
        const auto& e = index->entries();
        const auto at = std::lower_bound(e.begin(), e.end(), mac,
                                         [](const IndexEntry& x, Mac m) { return x.mac.value() < m.value(); });
        return at != e.end() && at->mac == mac;
    };
    for (const DeviceRecord* d : kept)
        if (!d->is_device() && named(d->mac) && write_record(cache, *d, now, report) == FleetCache::Status::failed)
            return FleetCache::Status::failed;
    deltas.swap(kept);
    return FleetCache::Status::ok;
}

FlushReport FleetWriter::write(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now,
                               const std::vector<std::size_t>& sweep) {
    FlushReport report;
    if (pending.empty() && sweep.empty()) return report;
    const auto due = [now](UnixTime last) { return last == 0 || now < last || now - last >= kRefresh; };
    if (due(directory_written_) && !write_directory(cache, now, report)) {
        report.failed = true;
        return report;
    }

    std::map<std::size_t, std::vector<const DeviceRecord*>> to_index;
    std::set<std::size_t> with_refused;  // shards where a refused-only MAC asks for a place
    for (const DeviceRecord& delta : pending) {
        if (!delta.is_device()) {
            // Anyone with a certificate can make one up: its record waits
            // until its shard is known to have room for it.
            to_index[shard_of(delta.mac)].push_back(&delta);
            with_refused.insert(shard_of(delta.mac));
            continue;
        }
        if (write_record(cache, delta, now, report) == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        const auto seen = asserted_.find(delta.mac.value());
        const bool stale = seen == asserted_.end() || now - seen->second.when >= index_refresh_ ||
                           now < seen->second.when || (delta.is_device() && !seen->second.device);
        if (stale) to_index[shard_of(delta.mac)].push_back(&delta);
    }

    // A bound on memory: forgetting means re-asserting sooner, nothing worse.
    if (asserted_.size() > kMaxAsserted) asserted_.clear();

    std::set<std::size_t> shards;
    for (const auto& entry : to_index) shards.insert(entry.first);
    for (const std::size_t shard : sweep) shards.insert(shard % kIndexShards);
    if (shards.empty()) return report;
    const std::set<std::size_t> swept(sweep.begin(), sweep.end());

    // From the manifest's reading to the summary's writing, one step for
    // the node's other writers: a count is written by the writer that saw
    // it, before anyone changes what it counts. (Without it, a sweep that
    // found a shard empty wrote 0 for it after another process had added a
    // MAC and counted 1, and the page skipped the shard until the next sweep.)
    const Held held(cache);
    if (!held.ok()) {
        report.failed = true;
        return report;
    }

    // What each shard held when last written: a shard the manifest counts
    // and the cache no longer holds was evicted, with every MAC it named.
    std::vector<std::size_t> parts;
    for (const std::size_t shard : shards)
        if (parts.empty() || parts.back() != part_of(shard)) parts.push_back(part_of(shard));
    std::optional<Known> known = read_manifest(cache, parts, now, report);
    if (!known) {
        report.failed = true;
        return report;
    }
    for (const std::size_t shard : with_refused)
        if (admit_refused(cache, shard, to_index[shard], now, report) == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }

    // A shard counted 0 that is to get MACs is counted first, then written:
    // a flush cut short by a failure must not leave MACs in a shard its
    // part counts 0 (the page skips such a shard) until a sweep comes by.
    std::set<std::size_t> growing;
    for (const auto& [shard, deltas] : to_index)
        if (!deltas.empty() && !known->parts.at(part_of(shard)).count(shard)) growing.insert(part_of(shard));
    for (const std::size_t p : growing) {
        std::uint64_t total = 0;
        const auto status = cache.update(manifest_key(id_, p), now + expire_, [&](const std::string* current) {
            std::optional<ManifestPart> part;
            if (current) part = ManifestPart::decode(p, *current);
            if (!part) part = known->parts.at(p);
            for (const auto& [shard, deltas] : to_index)
                if (part_of(shard) == p && !part->count(shard)) part->set_count(shard, deltas.size());
            total = part->total();
            return std::optional<std::string>(part->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        known->summary.set_total(p, std::max(known->summary.total(p), total));
    }
    std::uint64_t evicted_written = 0;  // of report.cache_evicted, in the summary already
    if (!growing.empty()) {
        const auto status = cache.update(summary_key(id_), now + expire_, [&](const std::string* current) {
            std::optional<NodeSummary> summary;
            if (current) summary = NodeSummary::decode(*current);
            if (!summary) summary = known->summary;
            for (const std::size_t p : growing)
                if (!summary->total(p)) summary->set_total(p, known->summary.total(p));
            // A summary found gone with what it counted: once this one is
            // written, nothing else says so, should the flush stop here.
            summary->add_evicted(report.cache_evicted, now);
            evicted_written = report.cache_evicted;
            return std::optional<std::string>(summary->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
    }

    std::map<std::size_t, std::size_t> written;  // shard -> MACs it now holds
    static const std::vector<const DeviceRecord*> kNone;
    for (const std::size_t shard : shards) {
        const auto at = to_index.find(shard);
        const std::vector<const DeviceRecord*>& deltas = at == to_index.end() ? kNone : at->second;
        // Only refused MACs that found no room: nothing to write.
        if (deltas.empty() && !swept.count(shard)) continue;
        std::vector<IndexEntry> named;
        std::vector<Mac> displaced;
        const auto status = cache.update(index_key(id_, shard), now + expire_, [&](const std::string* current) {
            std::optional<IndexShard> index;
            if (current && !(index = IndexShard::decode(*current))) ++report.unreadable;
            if (!current) report.cache_evicted += known->parts.at(part_of(shard)).count(shard);
            if (!index) index.emplace();
            index->prune(now - expire_ - kIndexSlack);
            for (const DeviceRecord* d : deltas) {
                const IndexChange change = index->add(d->mac, seconds_of(d->last_activity()), d->is_device());
                if (change.evicted_device) report.evicted_devices.push_back(*change.evicted_device);
                if (change.refused_dropped) ++report.refused_dropped;
                if (change.displaced_refused) displaced.push_back(*change.displaced_refused);
            }
            // One pushed out and let in again by the batch keeps its record.
            displaced.erase(std::remove_if(displaced.begin(), displaced.end(),
                                           [&](Mac mac) {
                                               const auto& e = index->entries();
                                               return std::any_of(e.begin(), e.end(),
                                                                  [&](const IndexEntry& x) { return x.mac == mac; });
                                           }),
                            displaced.end());
            written[shard] = index->entries().size();
            named = index->entries();
            return std::optional<std::string>(index->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        for (const DeviceRecord* d : deltas) asserted_[d->mac.value()] = {now, d->is_device()};
        // Nothing names it any more; left, it would only take room. A
        // failure here is the next call's to find.
        for (const Mac mac : displaced) cache.remove(record_key(id_, mac));
        if (!swept.count(shard)) continue;
        // The shard's records, as they are, to expire no sooner than they
        // would have (the index's time may lag the record's by up to
        // kIndexSlack) and no later than a write now would (memcached takes
        // more than 30 days ahead for a time in 1970: gone at once); one
        // about to expire anyway is left to it (memcache refuses an expiry
        // in the past, redis would keep it for ever).
        for (const IndexEntry& e : named) {
            const UnixTime expires = std::min(e.last_seen + expire_ + kIndexSlack, now + expire_);
            if (expires <= now + 60) continue;
            const auto record_status = cache.update(record_key(id_, e.mac), expires,
                                                    [&](const std::string* current) -> std::optional<std::string> {
                                                        if (!current) {
                                                            ++report.records_evicted;
                                                            return std::nullopt;
                                                        }
                                                        ++report.records_swept;
                                                        return *current;
                                                    });
            if (record_status == FleetCache::Status::failed) {
                report.failed = true;
                return report;
            }
        }
    }

    // The parts, then the summary: each after what it counts, so that a
    // cache that drops its oldest entries first drops a shard before the
    // part that counts it.
    for (const std::size_t p : parts) {
        std::uint64_t total = 0;
        const auto status = cache.update(manifest_key(id_, p), now + expire_, [&](const std::string* current) {
            std::optional<ManifestPart> part;
            if (current && !(part = ManifestPart::decode(p, *current))) ++report.unreadable;
            if (!part) part = known->parts.at(p);
            for (const auto& [shard, n] : written)
                if (part_of(shard) == p) part->set_count(shard, n);
            total = part->total();
            return std::optional<std::string>(part->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        known->summary.set_total(p, total);
    }
    const bool refresh = due(summary_written_);
    std::uint64_t counted = 0;
    const auto status = cache.update(summary_key(id_), now + expire_, [&](const std::string* current) {
        std::optional<NodeSummary> summary;
        if (current && !(summary = NodeSummary::decode(*current))) ++report.unreadable;
        if (!summary) summary = known->summary;
        const std::string before = current ? *current : std::string();
        for (const std::size_t p : parts) summary->set_total(p, known->summary.total(p));
        summary->add_evicted(report.cache_evicted - evicted_written, now);
        if (tally_) summary->set_dropped(tally_->dropped.load());
        counted = summary->total();
        std::string after = summary->encode();
        // Unchanged and written lately: left as it is.
        if (after == before && !refresh) return std::optional<std::string>();
        return std::optional<std::string>(std::move(after));
    });
    if (status == FleetCache::Status::failed) {
        report.failed = true;
    } else {
        if (refresh) summary_written_ = now;
        if (tally_) {
            tally_->total = counted;
            tally_->at = now;
        }
    }
    return report;
}

}  // namespace polyprov
