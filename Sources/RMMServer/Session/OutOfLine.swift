/// Keeps a large, mostly nil optional out of its owner's storage: nil costs one word instead of
/// the value's full size, and a value lives in its own (immutable, shared on copy) box.
///
/// For per-agent state that is set rarely: an `AgentSession` holds one per agent for its whole
/// life, and its link-health optionals alone were 1.1 KiB of its 2.1 KiB, inline even when nil.
@propertyWrapper
struct OutOfLine<Wrapped> {
    fileprivate indirect enum Slot {
        case empty
        case filled(Wrapped)
    }

    private var slot: Slot

    init(wrappedValue: Wrapped?) {
        slot = wrappedValue.map { .filled($0) } ?? .empty
    }

    var wrappedValue: Wrapped? {
        get {
            if case .filled(let value) = slot { return value }
            return nil
        }
        set { slot = newValue.map { .filled($0) } ?? .empty }
    }
}

// The box is immutable once made (a set replaces it), so a value is as sendable as what it holds.
extension OutOfLine: Sendable where Wrapped: Sendable {}
extension OutOfLine.Slot: Sendable where Wrapped: Sendable {}
