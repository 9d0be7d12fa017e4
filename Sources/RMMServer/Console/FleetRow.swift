/// One agent as the fleet table shows it, every value already text.
struct FleetRow: Sendable, Equatable, Encodable {
    var id: String
    var name: String
    var status: String
    var verdict: String
    var mode: String
    var rtt: String
    var lastSeen: String
    var os: String
    var version: String
    var cpu: String
    var memory: String
    var disk: String

    /// Whether `other` differs in what the live view sends at once (status, verdict, downlink
    /// mode); the rest (metrics, round trip, last seen) is coalesced.
    func differsInEvents(from other: FleetRow) -> Bool {
        status != other.status || verdict != other.verdict || mode != other.mode || name != other.name
    }
}
