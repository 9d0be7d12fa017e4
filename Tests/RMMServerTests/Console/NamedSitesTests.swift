import Foundation
import RMMProtocol
import Testing

@testable import RMMServer

/// Sites an admin names by CIDR ranges: strict parsing with clear errors, and their precedence over /24-/64.
@Suite("Named sites")
struct NamedSitesTests {
    @Test("one site a line, ranges normalised; the most specific range wins; a named range beats the /24")
    func parsesAndMatches() throws {
        let sites = try NamedSites(parsing: "Main office: 203.0.113.0/24, 2001:DB8:1::/48\n\n  Lab: 203.0.113.128/25 \nHome: 198.51.100.9")
        #expect(sites.sites == [.init(name: "Main office", ranges: ["203.0.113.0/24", "2001:db8:1::/48"]),
                                .init(name: "Lab", ranges: ["203.0.113.128/25"]), .init(name: "Home", ranges: ["198.51.100.9/32"])])
        #expect(try NamedSites(parsing: sites.text) == sites, "the form's text reads back the same")
        let lookup = sites.lookup
        #expect(lookup.site(of: [203, 0, 113, 7]) == "Main office")
        #expect(lookup.site(of: [203, 0, 113, 200]) == "Lab")
        #expect(lookup.site(of: [198, 51, 100, 10]) == nil)
        let grouped = SiteGrouping.sites([
            .init(id: "a", name: "a", remote: "203.0.113.7:1"), .init(id: "b", name: "b", remote: "[2001:db8:1:5::1]:2"),
            .init(id: "c", name: "c", remote: "192.0.2.1:3"),
        ], named: lookup)
        #expect(grouped.map(\.network) == ["Main office", "192.0.2.0/24"] && grouped[0].named && !grouped[1].named)
    }

    @Test("bad input is refused with the line and the reason", arguments: [
        ("Office: 203.0.113.0/33", "line 1: '203.0.113.0/33' has a prefix length that is not 0...32"),
        ("Office: 203.0.113.5/24", "line 1: '203.0.113.5/24' has host bits set; the range is 203.0.113.0/24"),
        ("Office: nonsense", "line 1: 'nonsense' is not an IPv4 or IPv6 address or CIDR block"),
        ("Office 203.0.113.0/24", "line 1: expected 'Name: range, range' (a colon and a space after the name)"),
        ("A: 10.0.0.0/8\na: 11.0.0.0/8", "line 2: the site 'a' is named twice"),
        ("A: 10.0.0.0/8\nB: 10.0.0.0/8", "line 2: 10.0.0.0/8 is already in the site 'A'"),
        ("Office:", "line 1: the site 'Office' has no ranges"),
        (": 10.0.0.0/8", "line 1: the site has no name"),
    ])
    func refused(text: String, message: String) {
        #expect(throws: NamedSitesError(message)) { try NamedSites(parsing: text) }
    }

    @Test("names, ranges and sites are bounded")
    func bounded() {
        #expect(throws: NamedSitesError("line 1: a site's name has at most 64 characters")) {
            try NamedSites(parsing: String(repeating: "n", count: 65) + ": 10.0.0.0/8")
        }
        let many = (0..<65).map { "10.0.\($0).0/24" }.joined(separator: ", ")
        #expect(throws: NamedSitesError("line 1: a site has at most 64 ranges")) { try NamedSites(parsing: "A: \(many)") }
        let sites = (0...200).map { "S\($0): 10.\($0 / 256).\($0 % 256).0/24" }.joined(separator: "\n")
        #expect(throws: NamedSitesError("at most 200 sites can be named")) { try NamedSites(parsing: sites) }
    }
}

/// The parts of named-site parsing a browser and a hostile admin reach: line breaks, sizes, hidden characters.
@Suite("Named sites: form text")
struct NamedSitesFormTextTests {
    @Test("a browser's CRLF line breaks separate sites like LF; an IPv4-mapped address matches its IPv4 range")
    func crlf() throws {
        let sites = try NamedSites(parsing: "Office: 203.0.113.0/24\r\nLab: 2001:db8:1::/48\r\n")
        #expect(sites.sites.map(\.name) == ["Office", "Lab"])
        let mapped = try #require(IPAddressText.any("::ffff:203.0.113.9"))
        #expect(sites.lookup.site(of: mapped) == "Office")
        #expect(try NamedSites(parsing: "").sites.isEmpty && NamedSites().text.isEmpty, "an empty form names no sites")
    }

    @Test("more bad input, each refused with its reason", arguments: [
        ("Office: 10.0.0.0/8,, 2001:db8::/-1", "line 1: '2001:db8::/-1' has a prefix length that is not 0...128"),
        ("Office: 2001:db8::1/64", "line 1: '2001:db8::1/64' has host bits set; the range is 2001:db8::/64"),
        ("Off\u{202E}ice: 10.0.0.0/8", "line 1: the name has control characters"),
        ("Office: 10.0.0.0/8\nHome: 10.0.0.0/08", "line 2: 10.0.0.0/8 is already in the site 'Office'"),
        ("Office: 10.0.0.0/8 11.0.0.0/8", "line 1: '10.0.0.0/8 11.0.0.0/8' has a prefix length that is not 0...32"),
        ("Office: 10.0.0.1 11.0.0.0/8", "line 1: '10.0.0.1 11.0.0.0/8' is not an IPv4 or IPv6 address or CIDR block"),
    ])
    func refused(text: String, message: String) {
        #expect(throws: NamedSitesError(message)) { try NamedSites(parsing: text) }
    }

    @Test("the text, a name's bytes and the ranges in all are bounded")
    func bounded() {
        #expect(throws: NamedSitesError("the named sites are at most 131072 bytes of text")) {
            try NamedSites(parsing: "A: 10.0.0.0/8" + String(repeating: " ", count: NamedSites.maxTextBytes))
        }
        #expect(throws: NamedSitesError("line 1: a site's name has at most 64 characters")) {
            try NamedSites(parsing: "e" + String(repeating: "\u{301}", count: 300) + ": 10.0.0.0/8")
        }
        let lines = (0..<16).map { site in "S\(site): " + (0..<64).map { "10.\(site).\($0).0/24" }.joined(separator: ", ") }
        #expect(throws: NamedSitesError("line 16: at most 1000 ranges can be named in all")) { try NamedSites(parsing: lines.joined(separator: "\n")) }
    }
}
