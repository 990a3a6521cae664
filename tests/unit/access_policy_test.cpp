#include <gtest/gtest.h>

#include <polyprov/access_policy.hpp>

using namespace polyprov;

namespace {

const MacPattern& def() {
    static const MacPattern p = MacPattern::compile(MacPattern::kDefault);
    return p;
}
Mac mac(const char* s) { return *Mac::parse(s); }

Authentication device(const char* m) {
    Authentication a;
    a.device = a.claimed = mac(m);
    return a;
}

Denial decide(const Authentication& a, Names paths, MethodRule rule = MethodRule::read,
              bool match_uri = true, std::string_view upload_name = {}) {
    AccessRequest request;
    request.rule = rule;
    request.method = "GET";
    request.match_uri = match_uri;
    request.paths = paths;
    request.upload_name = upload_name;
    return decide_access(a, request, def()).denial;
}

}  // namespace

TEST(CheckPath, OwnSharedAndForeign) {
    const Mac me = mac("0004F2000001");
    EXPECT_EQ(check_path("/0004F2000001.cfg", me, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/0004f2000001-app.log", me, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/000000000000.cfg", me, def()).verdict, PathVerdict::shared);
    EXPECT_EQ(check_path("/sip.ld", me, def()).verdict, PathVerdict::shared);
    EXPECT_EQ(check_path("/", me, def()).verdict, PathVerdict::shared);
    const auto foreign = check_path("/0004F2000002.cfg", me, def());
    EXPECT_EQ(foreign.verdict, PathVerdict::foreign);
    EXPECT_EQ(foreign.offending, "0004F2000002");
    EXPECT_EQ(check_path("/0004F2000002/0004F2000001.cfg", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/0004F2000001/0004F2000002.cfg", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/0004F20000011.cfg", me, def()).verdict, PathVerdict::foreign);   // 13 digits
    EXPECT_EQ(check_path("/00040004F2000001.cfg", me, def()).verdict, PathVerdict::foreign);  // longer run hiding it
    // A separated form must not swallow the start of a run (review finding).
    const Mac dashed = mac("0004F2AABB00");
    EXPECT_EQ(check_path("/00-04-F2-AA-BB-0004F2586A4B.cfg", dashed, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/00-04-F2-AA-BB-00.cfg", dashed, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/x00-04-F2-AA-BB-00/0004F2586A4B", dashed, def()).verdict, PathVerdict::foreign);
}

TEST(DecideAccess, Vocabulary) {
    EXPECT_STREQ(decision_string(Denial::none), "allow");
    EXPECT_STREQ(decision_string(Denial::mac_mismatch), "deny:mac-mismatch");
    EXPECT_STREQ(decision_string(Denial::cn_no_mac), "deny:cn-no-mac");
    EXPECT_STREQ(denial_reason(Denial::not_in_acl), "not-in-acl");
    EXPECT_STREQ(denial_reason(Denial::none), "");
}

TEST(DecideAccess, AnUnauthenticatedRequestKeepsItsReason) {
    Authentication a;
    a.denial = Denial::not_in_acl;
    a.claimed = mac("0004F2000001");
    EXPECT_EQ(decide(a, {"/000000000000.cfg"}), Denial::not_in_acl);
    // Without a device there is nothing to allow, whatever the reason says.
    EXPECT_EQ(decide(Authentication{}, {"/000000000000.cfg"}), Denial::unverified);
}

TEST(DecideAccess, PathsMustBeOwnOrShared) {
    const auto me = device("0004F2000001");
    EXPECT_EQ(decide(me, {"/0004F2000001.cfg"}), Denial::none);
    EXPECT_EQ(decide(me, {"/0004F2000002.cfg"}), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, {"/0004F2000002.cfg"}, MethodRule::read, false), Denial::none) << "PolyProvMatchURI off";
    EXPECT_EQ(decide(me, {"/reception/x.cfg", "/srv/vault/0004F2000002/x.cfg"}), Denial::mac_mismatch)
        << "the mapped file's directory names another phone (an Alias)";
}

TEST(DecideAccess, AUriAtTheEndOfItsFileIsCheckedThere) {
    // The URI is scanned once, inside the mapped file name it ends; what it
    // names is found there as well as alone.
    const auto me = device("0004F2000001");
    EXPECT_EQ(decide(me, {"/0004F2000001.cfg", "/srv/htdocs/0004F2000001.cfg"}), Denial::none);
    EXPECT_EQ(decide(me, {"/0004F2000002.cfg", "/srv/htdocs/0004F2000002.cfg"}), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, {"/a/0004F2000002", "/srv/0004F2000001/a/0004F2000002"}), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, {"/0004F2000002.cfg", "/srv/htdocs0004F2000002.cfg"}), Denial::mac_mismatch)
        << "not a tail from a '/': both scanned";
    EXPECT_EQ(decide(me, {"/~1.cfg", "/srv/htdocs/~1.cfg"}), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, {"/.polyprov.lock", "/srv/logs/.polyprov.lock"}), Denial::not_writable);

    // An operator's pattern may see the URI differently alone (anchored at
    // its start): every path is scanned with it.
    const MacPattern anchored = MacPattern::compile("^/([0-9A-Fa-f]{12})");
    AccessRequest request;
    request.method = "GET";
    request.paths = {"/0004F2000002.cfg", "/srv/htdocs/0004F2000002.cfg"};
    EXPECT_EQ(decide_access(me, request, anchored).denial, Denial::mac_mismatch);
    request.paths = {"/0004F2000001.cfg", "/srv/htdocs/0004F2000001.cfg"};
    EXPECT_EQ(decide_access(me, request, anchored).denial, Denial::none);
}

TEST(DecideAccess, NamesNothing) {
    EXPECT_TRUE(names_nothing("/srv/provisioning/htdocs"));
    EXPECT_TRUE(names_nothing(""));
    EXPECT_TRUE(names_nothing("/srv/abc/deadbeef"));                  // hex runs too short to be a MAC
    EXPECT_FALSE(names_nothing("/srv/vault/0004F2000002"));
    EXPECT_FALSE(names_nothing("/srv/vault/00:04:f2:00:00:02"));
    EXPECT_FALSE(names_nothing("/srv/vault/0000000000000"));          // 13 digits: fails closed
    EXPECT_FALSE(names_nothing("/srv/000000000000"));                 // even the shared MAC is a match
    EXPECT_FALSE(names_nothing("/srv/.polyprov-upload"));
    EXPECT_FALSE(names_nothing("/srv/PROVIS~1"));
}

TEST(DecideAccess, TheSamePathTwiceIsCheckedOnce) {
    const auto me = device("0004F2000001");
    EXPECT_EQ(decide(me, {"/0004F2000002.cfg", "/0004F2000002.cfg"}), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, {"/0004F2000001.cfg", "/0004F2000001.cfg"}), Denial::none);
}

TEST(DecideAccess, MethodsAndModuleFiles) {
    const auto me = device("0004F2000001");
    EXPECT_EQ(decide(me, {"/logs/0004F2000001-app.log"}, MethodRule::refused), Denial::not_writable);
    EXPECT_EQ(decide(me, {"/logs/.polyprov.lock"}), Denial::not_writable);
    EXPECT_EQ(decide(me, {"/logs/x", "/srv/logs/.polyprov-upload-1-abc"}), Denial::not_writable);
    EXPECT_EQ(decide(me, {"/logs/0004F2000001-app.log"}, MethodRule::upload, true, "0004F2000001-app.log"),
              Denial::none);
    EXPECT_EQ(decide(me, {"/logs/0004F2000001.cfg"}, MethodRule::upload, true, "0004F2000001.cfg"),
              Denial::not_writable);
}

TEST(CheckPath, ShortNameAliasesAreForeign) {
    const Mac me = mac("0004F2000001");
    EXPECT_EQ(check_path("/0004F2~1.CFG", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/PHONES~2/x.cfg", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/backup~/x.cfg", me, def()).verdict, PathVerdict::shared);
}

TEST(DecideAccess, OpenedWebDavWritesTouchOnlyTheDevicesOwnUploads) {
    const auto me = device("0004F2000001");
    auto write = [&](Names names, bool collection = false) {
        AccessRequest request;
        request.rule = MethodRule::opened_write;
        request.method = "DELETE";
        request.paths = {"/logs/x"};
        request.written_names = names;
        request.collection = collection;
        return decide_access(me, request, def()).denial;
    };
    EXPECT_EQ(write({"0004F2000001-app.log"}), Denial::none);
    EXPECT_EQ(write({"0004F2000001-app.log", "0004F2000001-old.log"}), Denial::none) << "MOVE within its own";
    EXPECT_EQ(write({"archive"}), Denial::not_writable) << "a shared name";
    EXPECT_EQ(write({"000000000000-directory.xml"}), Denial::not_writable);
    EXPECT_EQ(write({"0004F2000001-app.log", "000000000000.cfg"}), Denial::not_writable) << "a Destination";
    EXPECT_EQ(write({"0004F2000001-app.log", "0004F2000001-x.shtml"}), Denial::not_writable);
    EXPECT_EQ(write({""}), Denial::not_writable);
    EXPECT_EQ(write({}), Denial::not_writable);
    EXPECT_EQ(write({"0004F2000001-app.log"}, true), Denial::not_writable) << "a collection";
    EXPECT_EQ(method_rule("DELETE", false, {"DELETE"}), MethodRule::opened_write);
    EXPECT_EQ(method_rule("POST", false, {"POST"}), MethodRule::read);
    EXPECT_FALSE(method_may_be_opened("MKCOL"));
}

TEST(MethodRule, DecidedOrRefused) {
    const std::vector<std::string> none, opened{"POST", "MOVE"};
    EXPECT_EQ(method_rule("GET", false, none), MethodRule::read);
    EXPECT_EQ(method_rule("HEAD", false, none), MethodRule::read);
    EXPECT_EQ(method_rule("OPTIONS", false, none), MethodRule::read);
    EXPECT_EQ(method_rule("PUT", true, none), MethodRule::upload);
    EXPECT_EQ(method_rule("PUT", false, none), MethodRule::refused);
    for (const char* m : {"DELETE", "MOVE", "COPY", "MKCOL", "PROPPATCH", "PROPFIND", "LOCK", "UNLOCK", "POST",
                          "PATCH", "TRACE", "get"})
        EXPECT_EQ(method_rule(m, true, none), MethodRule::refused) << m;
    EXPECT_EQ(method_rule("POST", false, opened), MethodRule::read);
    EXPECT_EQ(method_rule("MOVE", false, opened), MethodRule::opened_write);
    EXPECT_EQ(method_rule("DELETE", false, opened), MethodRule::refused);
    EXPECT_FALSE(method_may_be_opened("PROPFIND")) << "it lists other phones' files";
    EXPECT_FALSE(method_may_be_opened("GET"));
    EXPECT_EQ(method_rule("PROPFIND", false, {"PROPFIND"}), MethodRule::refused);
}

TEST(ModuleFiles, AnyComponentAnyCase) {
    EXPECT_TRUE(names_module_file("/logs/.polyprov.lock"));
    EXPECT_TRUE(names_module_file("/logs/.POLYPROV.LOCK"));
    EXPECT_TRUE(names_module_file("/logs/.polyprov.lock/x"));
    EXPECT_TRUE(names_module_file(".polyprov-upload-12-00ff"));
    EXPECT_FALSE(names_module_file("/logs/x.polyprov.lock"));
    EXPECT_FALSE(names_module_file("/logs/polyprov.lock"));
    EXPECT_FALSE(names_module_file("/"));
}

TEST(UploadName, TheDevicesOwnNamesOnly) {
    const Mac me = mac("0004F2000001");
    for (const char* ok : {"0004F2000001-app.log", "0004f2000001-boot.LOG", "0004F2000001-phone.cfg",
                           "0004F2000001-web.cfg", "0004F2000001-Web.cfg", "0004F2000001-calls.xml",
                           "0004F2000001-directory.xml", "0004F2000001-a_b-c.log"})
        EXPECT_TRUE(upload_name_allowed(ok, me)) << ok;
    for (const char* bad :
         {"0004F2000001.cfg", "0004F2000001.log", "0004F2000001-.log", "0004F2000002-app.log", "000000000000-app.log",
          "app.log", ".0004F2000001-app.log", "0004F2000001.php", "0004F2000001-x.html", "0004F2000001-x.shtml",
          "0004F2000001-x.html.log", "0004F2000001-app.log.php", "0004F2000001-app", "0004F2000001 app.log",
          "0004F2000001-a b.log", "0004F2000001%0a.log", "0004F2000001;x.log", "", "0004F2000001-app.log/",
          "00:04:F2:00:00:01-app.log", "0004F20000011-app.log", "x0004F2000001-app.log", "0004F2000001-app.txt",
          "0004F2000001-app.log.", "0004F2000001-a.b.log"})
        EXPECT_FALSE(upload_name_allowed(bad, me)) << bad;
    EXPECT_FALSE(upload_name_allowed("0004F2000001-" + std::string(300, 'a') + ".log", me));
}

TEST(UploadName, ServedAsData) {
    EXPECT_STREQ(upload_content_type("0004F2000001-calls.xml"), "application/xml");
    EXPECT_STREQ(upload_content_type("0004F2000001-calls.XML"), "application/xml");
    EXPECT_STREQ(upload_content_type("0004F2000001-app.log"), "text/plain");
    EXPECT_STREQ(upload_content_type("0004F2000001-x.html"), "text/plain");
    EXPECT_STREQ(upload_content_type("readme"), "text/plain");
}

namespace {

RequestFacts facts(std::string_view method, std::string_view uri, std::string_view target) {
    RequestFacts f;
    f.method = method;
    f.paths = {uri};
    f.uri = uri;
    f.target = target;
    return f;
}

}  // namespace

TEST(DecideRequest, TheMethodsRuleFromTheDirectorysSettings) {
    const auto a = device("0004F2000001");
    // PUT: an upload only where uploads are on, and then only by its own names.
    auto put = facts("PUT", "/logs/0004F2000001-app.log", "0004F2000001-app.log");
    EXPECT_EQ(decide_request(a, put, def()).denial, Denial::not_writable);
    put.upload_on = true;
    EXPECT_EQ(decide_request(a, put, def()).denial, Denial::none);
    auto own_config = facts("PUT", "/logs/0004F2000001.cfg", "0004F2000001.cfg");
    own_config.upload_on = true;
    EXPECT_EQ(decide_request(a, own_config, def()).denial, Denial::not_writable);
    // DELETE: refused unless opened, then only on the device's own uploads.
    const std::vector<std::string> opened{"DELETE"};
    auto del = facts("DELETE", "/logs/0004F2000001-app.log", "0004F2000001-app.log");
    EXPECT_EQ(decide_request(a, del, def()).denial, Denial::not_writable);
    del.opened = &opened;
    EXPECT_EQ(decide_request(a, del, def()).denial, Denial::none);
    auto collection = facts("DELETE", "/logs/0004F2000001-dir/", "");
    collection.opened = &opened;
    EXPECT_EQ(decide_request(a, collection, def()).denial, Denial::not_writable);
    EXPECT_STREQ(decide_request(a, collection, def()).decision(), "deny:not-writable");
    EXPECT_STREQ(decide_request(a, collection, def()).reason(), "not-writable");
}

TEST(DecideRequest, ADestinationCountsWhereTheRuleGoesByName) {
    const auto a = device("0004F2000001");
    const std::vector<std::string> opened{"MOVE", "COPY"};
    auto move = facts("MOVE", "/logs/0004F2000001-app.log", "0004F2000001-app.log");
    move.opened = &opened;
    move.destination = "/logs/0004F2000002-app.log";   // another phone's name
    EXPECT_EQ(decide_request(a, move, def()).denial, Denial::mac_mismatch);
    move.destination = "/logs/0004F2000001-old.log";
    EXPECT_EQ(decide_request(a, move, def()).denial, Denial::none);
    move.destination = "/logs/0004F2000001.cfg";       // a name it may not write
    EXPECT_EQ(decide_request(a, move, def()).denial, Denial::not_writable);
    move.destination.reset();
    move.destination_unusable = true;                  // fails closed
    EXPECT_EQ(decide_request(a, move, def()).denial, Denial::not_writable);
    // A GET is decided by its path; an unusable Destination on it refuses it too.
    auto get = facts("GET", "/0004F2000001.cfg", "0004F2000001.cfg");
    EXPECT_EQ(decide_request(a, get, def()).denial, Denial::none);
    get.destination = "/0004F2000002.cfg";
    EXPECT_EQ(decide_request(a, get, def()).denial, Denial::mac_mismatch);
    get.destination.reset();
    get.destination_unusable = true;
    EXPECT_EQ(decide_request(a, get, def()).denial, Denial::not_writable);
    // An upload's Destination plays no part.
    auto put = facts("PUT", "/logs/0004F2000001-app.log", "0004F2000001-app.log");
    put.upload_on = true;
    put.destination = "/logs/0004F2000002-app.log";
    put.destination_unusable = true;
    EXPECT_EQ(decide_request(a, put, def()).denial, Denial::none);
}

TEST(Names, HoldsWhatARequestNamesInPlaceAndRefusesMore) {
    Names names{"/a", "/srv/a"};
    names.push_back("/info");
    names.push_back("/dest");
    ASSERT_EQ(names.size(), Names::kCapacity);
    EXPECT_EQ(names.front(), "/a");
    EXPECT_EQ(names[3], "/dest");
    EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.end()),
              (std::vector<std::string_view>{"/a", "/srv/a", "/info", "/dest"}));
    // A fifth would be a request of a shape the glue never builds: refused
    // (the hook fails closed), never written past the end.
    EXPECT_THROW(names.push_back("/more"), std::length_error);
    EXPECT_EQ(names.size(), Names::kCapacity);
    EXPECT_TRUE(Names{}.empty());
}
