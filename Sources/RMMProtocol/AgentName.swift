import Foundation

/// The rules for agent names: what a valid name is, how two names compare (case-insensitively),
/// and how a taken name is made unique ("web" → "web-2").
public enum AgentName {
    /// Longest name, in characters.
    public static let maxLength = 64

    /// Why `name` cannot be an agent's name, or nil if it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "an agent name cannot be empty" }
        if name.count > maxLength { return "an agent name is at most \(maxLength) characters (this one has \(name.count))" }
        if name.unicodeScalars.contains(where: { $0.value == 0 }) { return "an agent name cannot contain a NUL character" }
        if name.unicodeScalars.contains(where: isControl) { return "an agent name cannot contain control or invisible formatting characters" }
        if name != name.trimmingCharacters(in: .whitespacesAndNewlines) { return "an agent name cannot start or end with spaces" }
        // Targets are given as "id or name": a name that looks like an agent id could stand for two agents.
        if name.lowercased().hasPrefix("ag_") { return "an agent name cannot start with 'ag_' (agent ids do)" }
        return nil
    }

    /// The key two names are compared by: equal keys are the same name.
    /// Canonical composition first, so "é" typed as one scalar or as "e" and a combining accent
    /// is one name, then case folded.
    public static func key(_ name: String) -> String { name.precomposedStringWithCanonicalMapping.lowercased() }

    /// A valid name from what an agent proposed (or its hostname if it proposed none): control
    /// characters dropped, spaces trimmed, cut to leave room for a suffix; "agent" if nothing is left.
    public static func sanitized(proposed: String, hostname: String) -> String {
        for candidate in [proposed, hostname] {
            var cleaned = String(String.UnicodeScalarView(candidate.unicodeScalars.filter { !isControl($0) }))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if cleaned.lowercased().hasPrefix("ag_") { cleaned = "agent-" + cleaned.dropFirst(3) }
            cleaned = String(cleaned.prefix(maxLength)).trimmingCharacters(in: .whitespacesAndNewlines)
            if !cleaned.isEmpty, problem(cleaned) == nil { return cleaned }
        }
        return "agent"
    }

    /// `base` if `isTaken` says no, else the first of "base-2", "base-3", … that is free (the base
    /// cut short if needed to stay within `maxLength`).
    public static func unique(_ base: String, isTaken: (String) throws -> Bool) rethrows -> String {
        if try !isTaken(base) { return base }
        var number = 2
        while true {
            let suffix = "-\(number)"
            let candidate = String(base.prefix(maxLength - suffix.count)).trimmingCharacters(in: .whitespacesAndNewlines) + suffix
            if try !isTaken(candidate) { return candidate }
            number += 1
        }
    }

    /// New names for agents that share a name (compared by `key`), given in enrollment order:
    /// the first of each name keeps it, each later one gets the first free "-N" suffix, free of
    /// every name already held and of those given before it. Returns only the agents renamed.
    public static func deduplicated(_ agents: [(id: String, name: String)]) -> [(id: String, name: String)] {
        var taken = Set(agents.map { key($0.name) })
        var kept = Set<String>()
        var renamed: [(id: String, name: String)] = []
        for agent in agents {
            if kept.insert(key(agent.name)).inserted { continue }
            let name = unique(agent.name) { taken.contains(key($0)) }
            taken.insert(key(name))
            renamed.append((agent.id, name))
        }
        return renamed
    }

    /// `text` without control characters, at most `limit` characters: safe to show in a log or table.
    public static func printable(_ text: String, limit: Int = maxLength) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { !isControl($0) })).prefix(limit).description
    }

    /// Control characters, and the invisible ones that could make a name look like another in a
    /// list or a log: format characters (bidi overrides, zero-width) and line or paragraph separators.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
