import Foundation

/// What a fleet live stream sends, decided from successive reads of the watched agents: pure,
/// `now` passed in. A change of status, verdict or downlink mode is sent at the next read; a change
/// of metrics only (CPU, memory, disk, round trip, last seen) at most once per `metricsInterval`
/// per agent, so a heartbeat is not an event. An agent that is no longer found is `gone`.
struct FleetChangeMachine: Sendable {
    enum Event: Equatable, Sendable {
        case changed(FleetRow)
        case gone(String)
    }

    let metricsInterval: TimeInterval
    private var last: [String: FleetRow]?
    private var metricsSent: [String: Date] = [:]

    init(metricsInterval: TimeInterval = 10) {
        self.metricsInterval = metricsInterval
    }

    /// The events for this read of `rows` at `now`. The first read is the baseline: the page
    /// that opened the stream already shows it.
    mutating func observe(_ rows: [FleetRow], now: Date) -> [Event] {
        let current = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        guard let previous = last else {
            last = current
            for id in current.keys { metricsSent[id] = now }
            return []
        }
        var events: [Event] = []
        var kept = previous
        for row in rows {
            guard let before = previous[row.id] else {
                events.append(.changed(row))
                kept[row.id] = row
                metricsSent[row.id] = now
                continue
            }
            guard row != before else { continue }
            let due = now.timeIntervalSince(metricsSent[row.id] ?? .distantPast) >= metricsInterval
            if row.differsInEvents(from: before) || due {
                events.append(.changed(row))
                kept[row.id] = row
                metricsSent[row.id] = now
            }
        }
        for id in previous.keys where current[id] == nil {
            events.append(.gone(id))
            kept[id] = nil
            metricsSent[id] = nil
        }
        last = kept
        return events
    }
}
