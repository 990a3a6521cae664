// The allow-list from a query's rows (acl_rows.hpp), the outage reports of
// the one place that runs it (query_outage.hpp), and its publication to
// every process as a list that follows no file (shared_file.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <polyprov/acl_file.hpp>
#include <polyprov/acl_rows.hpp>
#include <polyprov/query_outage.hpp>

using namespace polyprov;

namespace {

const std::string kPin = "AB" + std::string(62, '0');

AclRow row(std::optional<std::string> mac, std::optional<std::string> label = std::nullopt,
           std::optional<std::string> pin = std::nullopt) {
    return AclRow{std::move(mac), std::move(label), std::move(pin)};
}

const AclEntry* find(const Acl& acl, const char* mac) { return acl.find(*Mac::parse(mac)); }

std::shared_ptr<const Acl> list_of(std::vector<AclRow> rows) { return acl_from_rows(rows, "q").acl; }

}  // namespace

TEST(AclRows, GoodRowsInAnyNotationMakeTheList) {
    const AclFromRows built = acl_from_rows(
        {row("0004f2000001", "desk"), row("00:04:F2:00:00:02", "", ""), row("00-04-f2-00-00-03", std::nullopt, kPin),
         row("0004.f200.0004", "lobby phone")},
        "q");
    EXPECT_TRUE(built.problems.empty());
    ASSERT_EQ(built.acl->size(), 4u);
    EXPECT_STREQ(find(*built.acl, "0004F2000001")->label(), "desk");
    EXPECT_EQ(find(*built.acl, "0004F2000001")->line(), 1);
    // An empty label or pin column is an absent one.
    EXPECT_FALSE(find(*built.acl, "0004F2000002")->has_label());
    EXPECT_EQ(find(*built.acl, "0004F2000002")->pin(), nullptr);
    ASSERT_NE(find(*built.acl, "0004F2000003")->pin(), nullptr);
    EXPECT_EQ(fingerprint_hex(*find(*built.acl, "0004F2000003")->pin()), kPin);
    EXPECT_STREQ(find(*built.acl, "0004F2000004")->label(), "lobby phone");
}

TEST(AclRows, ABadRowIsLeftOutWithItsNumberAndValueAndTheRestIsTheList) {
    const AclFromRows built = acl_from_rows(
        {row("0004F2000001", "first"), row(std::nullopt), row("not-a-mac"), row("0004F2000002", std::nullopt, "abcd"),
         row("0004F2000003", "bell\a"), row("00:04:f2:00:00:01", "second"), row("0004F2000004")},
        "q");
    ASSERT_EQ(built.problems.size(), 5u);
    const auto& p = built.problems;
    EXPECT_EQ(p[0].row, 2u);
    EXPECT_EQ(p[0].value, "NULL");
    EXPECT_EQ(p[0].why, "the MAC is NULL");
    EXPECT_EQ(p[1].row, 3u);
    EXPECT_EQ(p[1].value, "not-a-mac");
    EXPECT_EQ(p[1].why.rfind("not a MAC address", 0), 0u) << p[1].why;
    EXPECT_EQ(p[2].row, 4u);
    EXPECT_EQ(p[2].value, "abcd");
    EXPECT_NE(p[2].why.find("for device 0004F2000002"), std::string::npos) << p[2].why;
    EXPECT_EQ(p[3].row, 5u);
    EXPECT_EQ(p[3].value, "bell\\x07") << "quoted printable";
    EXPECT_EQ(p[4].row, 6u);
    EXPECT_EQ(p[4].why, "duplicate MAC 0004F2000001: row 1 kept");
    // Fail closed: a device whose pin does not parse is not let in unpinned.
    EXPECT_EQ(find(*built.acl, "0004F2000002"), nullptr);
    EXPECT_EQ(find(*built.acl, "0004F2000003"), nullptr);
    EXPECT_STREQ(find(*built.acl, "0004F2000001")->label(), "first");
    EXPECT_NE(find(*built.acl, "0004F2000004"), nullptr);
    EXPECT_EQ(built.acl->size(), 2u);
}

TEST(AclRows, ALongValueIsQuotedShort) {
    const AclFromRows built = acl_from_rows({row(std::string(5000, 'x'))}, "q");
    ASSERT_EQ(built.problems.size(), 1u);
    EXPECT_EQ(built.problems[0].value, std::string(80, 'x') + "...");
}

TEST(AclRows, TheSameRowsMakeTheSameTable) {
    // So that a run whose result did not change publishes nothing.
    const std::vector<AclRow> rows{row("0004F2000001", "a"), row("0004F2000002", std::nullopt, kPin)};
    EXPECT_EQ(list_of(rows)->bytes(), list_of(rows)->bytes());
    EXPECT_EQ(list_of({})->size(), 0u);
}

TEST(QueryOutage, SaidOnceWhenItBeginsAndOnceWhenItEnds) {
    QueryOutage outage;
    const auto t0 = QueryOutage::Clock::now();
    EXPECT_FALSE(outage.answered(t0)) << "nothing to say without an outage";
    EXPECT_EQ(outage.failed("cannot connect", t0).value_or(""), "cannot connect");
    EXPECT_TRUE(outage.ongoing());
    EXPECT_FALSE(outage.failed("cannot connect", t0 + std::chrono::seconds(5)));
    EXPECT_FALSE(outage.failed("the query fails", t0 + std::chrono::seconds(10)));
    const auto back = outage.answered(t0 + std::chrono::seconds(90));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, "the query answers again after 1 minute 30 seconds (3 failed runs)");
    EXPECT_FALSE(outage.ongoing());
    EXPECT_FALSE(outage.answered(t0 + std::chrono::seconds(95)));
    EXPECT_TRUE(outage.failed("again", t0 + std::chrono::seconds(100))) << "a new outage is said again";
}

TEST(PublishedAcl, NothingUntilTheFirstVersionThenEachChangeOnce) {
    auto list = published_acl("PolyProvACLQuery at test:1", nullptr);
    EXPECT_EQ(list->watch().kind, WatchEvent::Kind::none) << "it follows no file";
    auto view = list->current();
    EXPECT_EQ(view.value, nullptr) << "no list yet: fail closed";
    EXPECT_FALSE(view.error);

    WatchEvent e = list->publish(list_of({row("0004F2000001")}));
    EXPECT_EQ(e.kind, WatchEvent::Kind::published);
    EXPECT_EQ(e.generation, 1u);
    EXPECT_EQ(e.message, "1 devices");
    view = list->current();
    ASSERT_NE(view.value, nullptr);
    EXPECT_NE(find(*view.value, "0004F2000001"), nullptr);

    EXPECT_EQ(list->publish(list_of({row("0004F2000001")})).kind, WatchEvent::Kind::none) << "unchanged";
    e = list->publish(list_of({row("0004F2000002")}));
    EXPECT_EQ(e.generation, 2u);
    view = list->current();
    EXPECT_EQ(find(*view.value, "0004F2000001"), nullptr);
    EXPECT_NE(find(*view.value, "0004F2000002"), nullptr);
}

TEST(PublishedAcl, ARestartStartsFromTheVersionInForce) {
    // The parent's side of a graceful restart: the version the watcher
    // published, read back from what it handed the parent, starts the
    // next configuration's list, and the same rows publish nothing anew.
    PublishedSlot slot;
    SnapshotExchange exchange;
    auto old_list = published_acl("q", nullptr);
    old_list->attach(&slot, &exchange, 0);
    EXPECT_EQ(old_list->in_force(), nullptr);
    ASSERT_EQ(old_list->publish(list_of({row("0004F2000001", "desk")})).generation, 1u);
    old_list->release_outdated(true);   // as httpd's parent has let its own copy go
    const auto carried = old_list->in_force();
    ASSERT_NE(carried, nullptr);
    EXPECT_STREQ(find(*carried, "0004F2000001")->label(), "desk");

    auto next = published_acl("q", carried);
    ASSERT_NE(next->current().value, nullptr);
    EXPECT_STREQ(find(*next->current().value, "0004F2000001")->label(), "desk");
    EXPECT_EQ(next->publish(list_of({row("0004F2000001", "desk")})).kind, WatchEvent::Kind::none);
    EXPECT_EQ(next->publish(list_of({row("0004F2000001", "lobby")})).generation, 1u);
}

TEST(AclRows, ADeviceWithABadRowIsRefusedWhateverItsOtherRowsSay) {
    // A LEFT JOIN may give a device one row with a pin that does not parse
    // and one with none: the second must not let it in unpinned.
    AclFromRows built = acl_from_rows({row("0004F2000001", "a", "abcd"), row("0004F2000001", "a")}, "q");
    EXPECT_EQ(find(*built.acl, "0004F2000001"), nullptr);
    ASSERT_EQ(built.problems.size(), 2u);
    EXPECT_EQ(built.problems[1].row, 2u);
    EXPECT_EQ(built.problems[1].why, "device 0004F2000001 refused: its row 1 was left out");
    // The same, the good row first.
    built = acl_from_rows({row("0004F2000001", "a"), row("0004F2000001", "bad\n")}, "q");
    EXPECT_EQ(find(*built.acl, "0004F2000001"), nullptr);
    // Rows that name different pins (or a pin and none): no row is believed.
    built = acl_from_rows({row("0004F2000001"), row("0004F2000001", std::nullopt, kPin), row("0004F2000002")}, "q");
    EXPECT_EQ(find(*built.acl, "0004F2000001"), nullptr);
    EXPECT_NE(find(*built.acl, "0004F2000002"), nullptr);
    ASSERT_EQ(built.problems.size(), 2u) << "each of its rows says why";
    EXPECT_EQ(built.problems[0].row, 1u);
    EXPECT_EQ(built.problems[0].why, "device 0004F2000001 refused: its rows name different pins");
    EXPECT_EQ(built.problems[1].row, 2u);
    // Pins A, none, A: the refusal names the conflict, not a bad row.
    built = acl_from_rows({row("0004F2000001", std::nullopt, kPin), row("0004F2000001"),
                           row("0004F2000001", std::nullopt, kPin)}, "q");
    EXPECT_EQ(built.acl->size(), 0u);
    ASSERT_EQ(built.problems.size(), 3u);
    for (const auto& p : built.problems) EXPECT_EQ(p.why, "device 0004F2000001 refused: its rows name different pins");
    // Rows that agree: the first is kept, its label with it.
    built = acl_from_rows({row("0004F2000001", "first", kPin), row("00:04:f2:00:00:01", "second", kPin)}, "q");
    ASSERT_NE(find(*built.acl, "0004F2000001"), nullptr);
    EXPECT_STREQ(find(*built.acl, "0004F2000001")->label(), "first");
}
