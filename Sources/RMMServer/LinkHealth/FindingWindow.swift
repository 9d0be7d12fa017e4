import Foundation

/// One 10 s window of an agent's new link findings: how many were judged, and how many dropped
/// beyond the limit (the first drop is logged at once, the rest when the window ends).
struct FindingWindow: Sendable {
    var start: Date
    var count = 0
    /// Dropped findings logged with the window's first drop.
    var droppedLogged = 0
    /// Dropped findings not logged yet.
    var dropped = 0
}
