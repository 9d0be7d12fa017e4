import Foundation
import RMMProtocol
import Testing
@testable import RMMServer

/// The session's schedule without sockets: every `Action` and every deadline `nextDue` picks.
@Suite("SessionSchedule")
struct SessionScheduleTests {
    let t0 = Fixture.t0
    let timing = SessionSchedule.Timing(heartbeatInterval: 15, pingInterval: 60, heartbeatDeadline: 45, livenessFlushInterval: 30)

    private func connected() -> SessionSchedule {
        var schedule = SessionSchedule()
        schedule.connected(now: t0)
        _ = schedule.wake(now: t0, lastDataIn: t0, ackOwed: false, pollDownlink: false, timing: timing)  // first flush
        return schedule
    }

    @Test("offline: only the liveness flush, and no wake is scheduled")
    func offline() {
        var schedule = SessionSchedule()
        #expect(schedule.wake(now: t0, lastDataIn: nil, ackOwed: true, pollDownlink: false, timing: timing) == [.flushLiveness])
        #expect(schedule.wake(now: Fixture.at(1), lastDataIn: nil, ackOwed: true, pollDownlink: false, timing: timing) == [])
        #expect(schedule.nextDue(now: t0, lastDataIn: nil, immediate: true, timing: timing) == nil)
    }

    @Test("a heartbeat every interval, or at once when an ack is owed")
    func heartbeats() {
        var schedule = connected()
        #expect(schedule.wake(now: Fixture.at(14), lastDataIn: Fixture.at(14), ackOwed: false, pollDownlink: false, timing: timing) == [])
        #expect(schedule.wake(now: Fixture.at(15), lastDataIn: Fixture.at(14), ackOwed: false, pollDownlink: false, timing: timing) == [.sendHeartbeat])
        #expect(schedule.lastHeartbeatSent == Fixture.at(15))
        #expect(schedule.wake(now: Fixture.at(16), lastDataIn: Fixture.at(16), ackOwed: true, pollDownlink: false, timing: timing) == [.sendHeartbeat])
    }

    @Test("a ping every interval; due with a heartbeat it rides on the heartbeat's flush, except on the poll downlink")
    func pings() {
        var schedule = connected()
        #expect(schedule.wake(now: Fixture.at(30), lastDataIn: Fixture.at(30), ackOwed: false, pollDownlink: false, timing: timing)
            == [.sendHeartbeat, .flushLiveness])
        #expect(schedule.wake(now: Fixture.at(60), lastDataIn: Fixture.at(60), ackOwed: false, pollDownlink: false, timing: timing)
            == [.ping(flush: false), .sendHeartbeat, .flushLiveness])
        #expect(schedule.lastPingSent == Fixture.at(60))
        #expect(schedule.wake(now: Fixture.at(120), lastDataIn: Fixture.at(120), ackOwed: false, pollDownlink: true, timing: timing)
            == [.ping(flush: true), .sendHeartbeat, .flushLiveness])
        var alone = connected()
        let noHeartbeat = SessionSchedule.Timing(heartbeatInterval: 100, pingInterval: 60, heartbeatDeadline: 145, livenessFlushInterval: 300)
        #expect(alone.wake(now: Fixture.at(60), lastDataIn: Fixture.at(60), ackOwed: false, pollDownlink: false, timing: noHeartbeat) == [.ping(flush: true)])
    }

    @Test("no data frame for the deadline closes the connection and nothing else is sent on it; from the connect when none came")
    func deadline() {
        var schedule = connected()
        #expect(schedule.wake(now: Fixture.at(45), lastDataIn: nil, ackOwed: true, pollDownlink: false, timing: timing)
            == [.sendHeartbeat, .flushLiveness])
        #expect(schedule.wake(now: Fixture.at(46), lastDataIn: nil, ackOwed: true, pollDownlink: false, timing: timing)
            == [.closeForDeadline(seconds: 45)])
        var fed = connected()
        #expect(fed.wake(now: Fixture.at(100), lastDataIn: Fixture.at(54), ackOwed: false, pollDownlink: false, timing: timing)
            == [.closeForDeadline(seconds: 45), .flushLiveness])
    }

    @Test("next due: the earliest duty, or now for immediate work; other machines' deadlines count")
    func nextDue() {
        var schedule = connected()
        #expect(schedule.nextDue(now: Fixture.at(1), lastDataIn: t0, immediate: false, timing: timing) == Fixture.at(15))
        #expect(schedule.nextDue(now: Fixture.at(1), lastDataIn: t0, immediate: true, timing: timing) == Fixture.at(1))
        #expect(schedule.nextDue(now: Fixture.at(1), lastDataIn: t0, immediate: false, timing: timing, others: [nil, Fixture.at(4)]) == Fixture.at(4))
        let slow = SessionSchedule.Timing(heartbeatInterval: 100, pingInterval: 100, heartbeatDeadline: 20, livenessFlushInterval: 100)
        #expect(schedule.nextDue(now: Fixture.at(1), lastDataIn: Fixture.at(5), immediate: false, timing: slow) == Fixture.at(25))
        #expect(schedule.nextDue(now: Fixture.at(1), lastDataIn: nil, immediate: false, timing: slow) == Fixture.at(20))
        schedule.flushed(now: Fixture.at(2))
        let flushFirst = SessionSchedule.Timing(heartbeatInterval: 100, pingInterval: 100, heartbeatDeadline: 100, livenessFlushInterval: 5)
        #expect(schedule.nextDue(now: Fixture.at(3), lastDataIn: t0, immediate: false, timing: flushFirst) == Fixture.at(7))
        schedule.disconnected()
        #expect(schedule.nextDue(now: Fixture.at(3), lastDataIn: t0, immediate: true, timing: timing) == nil)
    }
}
