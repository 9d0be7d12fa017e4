import Foundation
import RMMProtocol

/// Sites an admin names by CIDR ranges ("Main office: 203.0.113.0/24, 2001:db8:1::/48"), tried
/// before the /24-/64 fallback. Ranges are parsed by `TrustedProxies.Block` (the one CIDR parser)
/// and checked strictly: no host bits, bounded counts and name length, no range named twice.
struct NamedSites: Sendable, Equatable, Codable {
    /// One named site and its ranges, as typed (normalised).
    struct Site: Sendable, Equatable, Codable {
        var name: String
        var ranges: [String]
    }

    /// Most sites, ranges per site, and characters in a site's name.
    static let maxSites = 200
    static let maxRangesPerSite = 64
    /// Most ranges over all sites: each agent on the sites page is matched against every one.
    static let maxRanges = 1_000
    static let maxNameLength = 64
    /// Most bytes of the form's text: room for every site and range at their longest, with spaces.
    static let maxTextBytes = 128 * 1024
    /// The store setting they are kept under, as JSON.
    static let settingKey = "console_named_sites"

    var sites: [Site] = []

    /// Parses the form's text: one site a line, `Name: range, range`; blank lines are skipped.
    /// Throws the first problem, naming its line.
    init(parsing text: String) throws(NamedSitesError) {
        guard text.utf8.count <= Self.maxTextBytes else { throw .init("the named sites are at most \(Self.maxTextBytes) bytes of text") }
        var sites: [Site] = []
        var seenNames = Set<String>()
        var seenRanges: [String: String] = [:]
        var count = 0
        // By any line break: a browser's textarea sends CRLF, which Swift holds as one Character.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let at = "line \(index + 1)"
            // The name ends at the first colon and space (an IPv6 range has colons, never that pair).
            let separator = line.range(of: ": ") ?? (line.hasSuffix(":") ? line.index(before: line.endIndex)..<line.endIndex : nil)
            guard let split = separator else { throw .init("\(at): expected 'Name: range, range' (a colon and a space after the name)") }
            let name = line[..<split.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw .init("\(at): the site has no name") }
            // Characters as a person counts them, and bytes so combining marks cannot pile up behind one.
            guard name.count <= Self.maxNameLength, name.utf8.count <= Self.maxNameLength * 4 else { throw .init("\(at): a site's name has at most \(Self.maxNameLength) characters") }
            guard name.unicodeScalars.allSatisfy({ !CharacterSet.controlCharacters.contains($0) }) else { throw .init("\(at): the name has control characters") }
            guard seenNames.insert(name.lowercased()).inserted else { throw .init("\(at): the site '\(name)' is named twice") }
            let texts = line[split.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !texts.isEmpty else { throw .init("\(at): the site '\(name)' has no ranges") }
            guard texts.count <= Self.maxRangesPerSite else { throw .init("\(at): a site has at most \(Self.maxRangesPerSite) ranges") }
            count += texts.count
            guard count <= Self.maxRanges else { throw .init("\(at): at most \(Self.maxRanges) ranges can be named in all") }
            var ranges: [String] = []
            for text in texts {
                let block = try Self.block(text, at: at)
                if let other = seenRanges[block.description] { throw .init("\(at): \(block) is already in the site '\(other)'") }
                seenRanges[block.description] = name
                ranges.append(block.description)
            }
            sites.append(Site(name: name, ranges: ranges))
            guard sites.count <= Self.maxSites else { throw .init("at most \(Self.maxSites) sites can be named") }
        }
        self.sites = sites
    }

    init(sites: [Site] = []) {
        self.sites = sites
    }

    /// One range, strictly: an address or CIDR block without host bits ("203.0.113.5/24" is refused).
    static func block(_ text: String, at: String) throws(NamedSitesError) -> TrustedProxies.Block {
        let block: TrustedProxies.Block
        do { block = try TrustedProxies.Block(parsing: text) } catch { throw .init("\(at): \(error.message)") }
        let address = String(text.prefix { $0 != "/" })
        if let exact = try? TrustedProxies.Block(parsing: address), exact.network != block.network {
            throw .init("\(at): '\(LogSafe.text(text, limit: 80))' has host bits set; the range is \(block)")
        }
        return block
    }

    /// The text the form shows: one site a line.
    var text: String {
        sites.map { "\($0.name): \($0.ranges.joined(separator: ", "))" }.joined(separator: "\n")
    }

    /// The ranges parsed once, for `site(of:)`.
    var lookup: Lookup {
        Lookup(entries: sites.flatMap { site in site.ranges.compactMap { range in (try? TrustedProxies.Block(parsing: range)).map { (name: site.name, block: $0) } } })
    }

    /// Named ranges ready to match addresses against: one table per prefix length, longest first,
    /// so an address costs a lookup per distinct length (at most 33 + 129), not one per range
    /// (10,000 agents against 1,000 ranges took 24 s as a scan).
    struct Lookup: Sendable {
        /// Per address size (4 or 16 bytes) and prefix length: each range's network and its site.
        private var levels: [(bytes: Int, prefix: Int, sites: [[UInt8]: String])] = []

        init(entries: [(name: String, block: TrustedProxies.Block)]) {
            var tables: [[Int]: [[UInt8]: String]] = [:]
            // A range is in one site only (`NamedSites` refuses it twice), so no entry replaces another.
            for entry in entries { tables[[entry.block.network.count, entry.block.prefix], default: [:]][entry.block.network] = entry.name }
            levels = tables.map { (bytes: $0.key[0], prefix: $0.key[1], sites: $0.value) }.sorted { ($0.prefix, $0.bytes) > ($1.prefix, $1.bytes) }
        }

        /// The named site holding `address` (4 or 16 bytes; IPv4-mapped IPv6 as its IPv4) by its most specific range; nil when none does.
        func site(of address: [UInt8]) -> String? {
            let plain = TrustedProxies.Block.unmapped(address)
            for level in levels where level.bytes == plain.count {
                if let name = level.sites[TrustedProxies.Block.masked(plain, prefix: level.prefix)] { return name }
            }
            return nil
        }
    }
}

/// Why an admin's named sites were refused.
struct NamedSitesError: Error, Sendable, Equatable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
