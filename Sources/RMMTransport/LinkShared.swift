import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import RMMProtocol

/// State of one link shared between its event-loop handler and the threads that own the link.
final class LinkShared: Sendable {
    private let counters = NIOLockedValueBox(LinkCounters())
    private let closure = NIOLockedValueBox<LinkClosure?>(nil)
    /// Client-to-server frames must be masked (RFC 6455 §5.3); server frames must not be.
    let isClient: Bool
    /// Most messages handed to the owner but not yet handled before the link gives up (explicit overload).
    let maxBacklog: Int

    init(isClient: Bool, maxBacklog: Int) {
        self.isClient = isClient
        self.maxBacklog = maxBacklog
    }

    @discardableResult
    func update<T>(_ body: (inout LinkCounters) -> T) -> T {
        counters.withLockedValue { body(&$0) }
    }

    var snapshot: LinkCounters { counters.withLockedValue { $0 } }

    func setClosure(_ value: LinkClosure) {
        closure.withLockedValue { if $0 == nil { $0 = value } }
    }

    var closed: LinkClosure? { closure.withLockedValue { $0 } }

    func makeMaskKey() -> WebSocketMaskingKey? {
        isClient ? WebSocketMaskingKey.random() : nil
    }
}
