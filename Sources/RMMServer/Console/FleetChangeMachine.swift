import Foundation

/// What a fleet live stream sends, decided from successive reads of the page it watches (the same
/// filter and window as the page the browser shows): pure, `now` passed in. A change of status,
/// verdict or downlink mode is sent at the next read; a change of metrics only (CPU, memory, disk,
/// round trip, last seen) at most once per `metricsInterval` per agent, so a heartbeat is not an
/// event. An agent that leaves the window (removed, or no longer matching the filter, or pushed off
/// the page by one that came before it) is `gone`; one that enters it is `added` after the row it
/// follows, so the browser's table stays what a reload would show.
struct FleetChangeMachine: Sendable {
    enum Event: Equatable, Sendable {
        /// A row already shown, with new values.
        case changed(FleetRow)
        /// A row new to the window, to be shown after the row with id `after` (nil: first).
        case added(FleetRow, after: String?)
        /// A row to take off the page.
        case gone(String)
    }

    let metricsInterval: TimeInterval
    private var last: [String: FleetRow]?
    private var metricsSent: [String: Date] = [:]

    /// The ids of the rows the browser shows (its page as rendered), which the first read is
    /// compared with; nil takes the first read as the baseline.
    private var shown: [String]?

    init(metricsInterval: TimeInterval = 10, shown: [String]? = nil) {
        self.metricsInterval = metricsInterval
        self.shown = shown
    }

    /// The events for this read of `rows` at `now`. The first read brings the browser's page up
    /// to date: every row it shows is sent with today's values, rows that left are gone and rows
    /// that came are added (what changed between the page's render and the stream's start is not
    /// lost). Without `shown` the first read is the baseline and sends nothing.
    mutating func observe(_ rows: [FleetRow], now: Date) -> [Event] {
        let current = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        guard let previous = last else {
            last = current
            for id in current.keys { metricsSent[id] = now }
            return shown.map { Self.catchUp(shown: $0, rows: rows, current: current) } ?? []
        }
        // Gone first, then in page order: each `added` names a row the browser already has.
        var events: [Event] = []
        var kept = previous
        for id in previous.keys.sorted() where current[id] == nil {
            events.append(.gone(id))
            kept[id] = nil
            metricsSent[id] = nil
        }
        for (index, row) in rows.enumerated() where previous[row.id] != row {
            let after = index > 0 ? rows[index - 1].id : nil
            guard let shown = previous[row.id] else {
                events.append(.added(row, after: after))
                kept[row.id] = row
                metricsSent[row.id] = now
                continue
            }
            if shown.name != row.name {
                // A renamed agent moves in the name order: taken off and put back in its place.
                events += [.gone(row.id), .added(row, after: after)]
            } else if row.differsInEvents(from: shown) || now.timeIntervalSince(metricsSent[row.id] ?? .distantPast) >= metricsInterval {
                events.append(.changed(row))
            } else {
                continue
            }
            kept[row.id] = row
            metricsSent[row.id] = now
        }
        last = kept
        return events
    }

    /// The first read's events against the ids the browser shows.
    private static func catchUp(shown: [String], rows: [FleetRow], current: [String: FleetRow]) -> [Event] {
        let onPage = Set(shown)
        var events: [Event] = []
        var seen = Set<String>()
        for id in shown where current[id] == nil && seen.insert(id).inserted { events.append(.gone(id)) }
        for (index, row) in rows.enumerated() {
            events.append(onPage.contains(row.id) ? .changed(row) : .added(row, after: index > 0 ? rows[index - 1].id : nil))
        }
        return events
    }
}
