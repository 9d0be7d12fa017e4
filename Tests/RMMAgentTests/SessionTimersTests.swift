import Foundation
import RMMProtocol
import Testing

@testable import RMMAgent

/// The agent's rhythm on the wire: heartbeats every interval, metrics on their own slower
/// interval, pings, and the data deadline.
@Suite("Session timers")
struct SessionTimersTests {
    private let start = Date(timeIntervalSince1970: 2_000_000)

    /// Counters of a link whose last data and control frames came at the given times.
    private func counters(dataAt: Date, controlAt: Date?) -> LinkCounters {
        var counters = LinkCounters()
        counters.lastDataIn = dataAt.timeIntervalSince1970
        counters.lastControlIn = controlAt?.timeIntervalSince1970
        return counters
    }

    /// Ticks at each of `seconds` after `start` on a live link (data and server pings just in),
    /// returning the duties of each.
    private func duties(at seconds: [Double], config: AgentConfig) -> [(heartbeat: Bool, metrics: Bool, ping: Bool)] {
        var timers = SessionTimers(connectedAt: start)
        return seconds.map { offset in
            let now = start.addingTimeInterval(offset)
            guard case .duties(let heartbeat, let metrics, let ping) = timers.tick(now: now, counters: counters(dataAt: now, controlAt: now), config: config) else {
                Issue.record("expired at \(offset) s")
                return (false, false, false)
            }
            return (heartbeat, metrics, ping)
        }
    }

    @Test("a heartbeat every interval; metrics on the first and then once a minute by default")
    func metricsOnTheirOwnInterval() {
        let got = duties(at: [0, 15, 30, 45, 60, 75], config: .defaults)
        #expect(got.map(\.heartbeat) == [true, true, true, true, true, true])
        #expect(got.map(\.metrics) == [true, false, false, false, true, false])
    }

    @Test("metrics_interval sets the rhythm, never faster than the heartbeat that carries them")
    func metricsIntervalConfigured() {
        var every = AgentConfig.defaults
        every.metricsInterval = 15
        #expect(duties(at: [0, 15, 30], config: every).map(\.metrics) == [true, true, true])
        var tooFast = AgentConfig.defaults
        tooFast.metricsInterval = 1
        #expect(tooFast.effectiveMetricsInterval == tooFast.heartbeatInterval)
        #expect(duties(at: [0, 5, 15], config: tooFast).map(\.metrics) == [true, false, true])
    }

    @Test("a ping every ping interval (a minute by default, whatever the heartbeats do)")
    func pingsEveryInterval() {
        let got = duties(at: [0, 15, 30, 45, 59, 60, 75, 120], config: .defaults)
        #expect(got.map(\.ping) == [false, false, false, false, false, true, false, true], "the welcome's ping counts for the first interval")
        var often = AgentConfig.defaults
        often.pingInterval = 15
        #expect(duties(at: [0, 10, 15, 20, 30], config: often).map(\.ping) == [false, false, true, false, true])
    }

    @Test("data frames quiet for 1.5 heartbeat intervals: one ping at once, so the deadline can tell a filtering path from a dead one")
    func quietDownlinkProbe() {
        let config = AgentConfig.defaults  // heartbeats every 15 s, pings every 60 s
        var timers = SessionTimers(connectedAt: start)
        let probeAt = start.addingTimeInterval(SessionTimers.quietProbeAfter(config))
        // The last data frame came at `start`; the routine ping is 60 s away.
        let quiet = counters(dataAt: start, controlAt: nil)
        #expect(timers.nextDue(counters: quiet, config: config) <= probeAt)
        guard case .duties(_, _, let early) = timers.tick(now: probeAt.addingTimeInterval(-1), counters: quiet, config: config),
              case .duties(_, _, let probe) = timers.tick(now: probeAt, counters: quiet, config: config),
              case .duties(_, _, let again) = timers.tick(now: probeAt.addingTimeInterval(5), counters: quiet, config: config) else {
            Issue.record("expired before the deadline")
            return
        }
        #expect(!early && probe && !again, "one probe per quiet spell")
        // Its pong came back: at the deadline the path is known to filter data, not to be dead.
        let deadlineAt = start.addingTimeInterval(config.heartbeatDeadline + 1)
        #expect(timers.tick(now: deadlineAt, counters: counters(dataAt: start, controlAt: probeAt.addingTimeInterval(0.01)), config: config)
                == .expired(controlAlive: true, reason: "no data frame from server for 45 s while control frames arrive"))
        // Data flowing again: no probe, the routine rhythm only.
        var healthy = SessionTimers(connectedAt: start)
        let now = start.addingTimeInterval(30)
        guard case .duties(_, _, let ping) = healthy.tick(now: now, counters: counters(dataAt: now.addingTimeInterval(-10), controlAt: nil), config: config) else {
            Issue.record("expired")
            return
        }
        #expect(!ping)
    }

    @Test("no data frame for the deadline: expired, saying whether control frames still arrive")
    func deadline() {
        let config = AgentConfig.defaults
        var timers = SessionTimers(connectedAt: start)
        let now = start.addingTimeInterval(config.heartbeatDeadline + 1)
        #expect(timers.tick(now: now, counters: counters(dataAt: start, controlAt: now), config: config)
                == .expired(controlAlive: true, reason: "no data frame from server for 45 s while control frames arrive"))
    }

    @Test("metrics_interval: optional on the wire (absent when unset, so older configs and signatures are unchanged) and range-checked")
    func configField() throws {
        let encoded = String(decoding: try WireCodec().encode(Envelope(.configUpdate(ConfigUpdate(config: .defaults, signature: nil)))), as: UTF8.self)
        #expect(!encoded.contains("metrics_interval"))
        var config = AgentConfig.defaults
        config.metricsInterval = 0
        #expect(config.problems() == ["metrics_interval must be 1...86400 seconds"])
        config.metricsInterval = 300
        #expect(config.problems().isEmpty)
        let roundTrip = try WireCodec().decode(try WireCodec().encode(Envelope(.configUpdate(ConfigUpdate(config: config, signature: nil)), seq: 1)))
        guard case .configUpdate(let update) = roundTrip.message else {
            Issue.record("not a config update")
            return
        }
        #expect(update.config.metricsInterval == 300)
    }

    @Test("writes: an owed ack brings a heartbeat; a ping rides the heartbeat's flush unless the downlink is polled")
    func writes() {
        #expect(SessionTimers.writes(heartbeat: false, metrics: false, ping: true, ackOwed: false, sendMode: .text)
            == .init(heartbeat: false, metrics: false, ping: true, flushPing: true))
        #expect(SessionTimers.writes(heartbeat: false, metrics: false, ping: true, ackOwed: true, sendMode: .text)
            == .init(heartbeat: true, metrics: false, ping: true, flushPing: false))
        #expect(SessionTimers.writes(heartbeat: true, metrics: true, ping: true, ackOwed: false, sendMode: .poll)
            == .init(heartbeat: true, metrics: true, ping: true, flushPing: true))
        #expect(SessionTimers.writes(heartbeat: false, metrics: false, ping: false, ackOwed: false, sendMode: .binary)
            == .init(heartbeat: false, metrics: false, ping: false, flushPing: true))
    }
}
