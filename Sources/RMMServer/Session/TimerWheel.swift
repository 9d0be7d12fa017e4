import Foundation

/// Members (sessions) filed under the slot of their next due time, so a periodic tick visits only
/// the members due by then instead of all of them.
///
/// A hashed timer wheel whose "wheel" is a dictionary keyed by absolute slot number (time divided
/// by the interval): no wrap-around bookkeeping and no limit on how far ahead a member may be
/// scheduled, at O(1) per schedule and per visit. Each member is filed at most once: scheduling it
/// again keeps the earlier of the two slots (a member woken early just reschedules itself), so the
/// wheel never holds more than one live entry per member. Moving a member earlier leaves its old
/// entry behind as a stale one, recognised and skipped when its slot comes up.
///
/// Not thread-safe; `SessionClock` guards one with a lock.
struct TimerWheel<Member: AnyObject> {
    /// Seconds per slot (the server's tick interval).
    let interval: Double
    private var slots: [Int: [Member]] = [:]
    /// The slot each scheduled member is live in; an entry in any other slot is stale.
    private var liveSlot: [ObjectIdentifier: Int] = [:]
    /// Every slot up to this one has been handed out by `popDue`.
    private(set) var processedThrough: Int

    /// A wheel whose first `popDue(now:)` hands out the slot containing `now`.
    init(interval: Double, now: Date) {
        precondition(interval > 0, "a timer wheel needs a positive interval")
        self.interval = interval
        processedThrough = Int((now.timeIntervalSinceReferenceDate / interval).rounded(.down)) - 1
    }

    /// How many members are scheduled.
    var count: Int { liveSlot.count }

    /// Whether `member` is scheduled.
    func contains(_ member: Member) -> Bool { liveSlot[ObjectIdentifier(member)] != nil }

    /// The slot that starts at or before `date` (a tick at `date` hands out this slot).
    func slot(containing date: Date) -> Int {
        Int((date.timeIntervalSinceReferenceDate / interval).rounded(.down))
    }

    /// When the slot after the one containing `date` starts: the time of the next tick.
    func nextBoundary(after date: Date) -> Date {
        Date(timeIntervalSinceReferenceDate: Double(slot(containing: date) + 1) * interval)
    }

    /// Files `member` under the first slot that starts at or after `due` (the next slot not yet
    /// handed out if that has passed), so it is never visited before `due` and at most one
    /// interval after. If it is already filed earlier, that stays.
    mutating func schedule(_ member: Member, at due: Date) {
        let atOrAfter = Int((due.timeIntervalSinceReferenceDate / interval).rounded(.up))
        file(member, in: max(atOrAfter, processedThrough + 1))
    }

    /// Files `member` under the next slot to be handed out: the next tick visits it.
    mutating func scheduleSoon(_ member: Member) {
        file(member, in: processedThrough + 1)
    }

    /// Removes and returns every member filed under a slot that starts at or before `now`, each once.
    mutating func popDue(now: Date) -> [Member] {
        let target = slot(containing: now)
        guard target > processedThrough else { return [] }
        // After a long stall, walking every missed slot would cost more than walking the filed ones.
        let keys = target - processedThrough <= slots.count
            ? Array(processedThrough + 1...target)
            : slots.keys.filter { $0 <= target }.sorted()
        processedThrough = target
        var due: [Member] = []
        for key in keys {
            guard let members = slots.removeValue(forKey: key) else { continue }
            for member in members {
                let id = ObjectIdentifier(member)
                // Skips stale entries, and a second live one of a member moved away and back.
                guard liveSlot[id] == key else { continue }
                liveSlot[id] = nil
                due.append(member)
            }
        }
        return due
    }

    private mutating func file(_ member: Member, in slot: Int) {
        let id = ObjectIdentifier(member)
        if let current = liveSlot[id], current <= slot { return }
        liveSlot[id] = slot
        slots[slot, default: []].append(member)
    }
}
