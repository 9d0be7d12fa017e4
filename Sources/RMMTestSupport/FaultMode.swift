/// How the fault proxy treats traffic on every connection it carries; switchable at any time.
public enum FaultMode: Sendable, Equatable {
    /// Forward bytes unchanged in both directions.
    case pass
    /// Forward nothing and close nothing: both sockets stay open while the path is dead,
    /// which is what a NAT rebinding or a proxy that keeps its upstream open looks like (H7).
    case halfOpen
}

/// Which way bytes travel through the proxy.
public enum FaultDirection: Sendable, Equatable {
    /// Client (agent) to server: bytes read from the accepted downstream socket.
    case uplink
    /// Server to client (agent): bytes read from the upstream socket.
    case downlink

    /// The other direction.
    var reversed: FaultDirection {
        switch self {
        case .uplink: .downlink
        case .downlink: .uplink
        }
    }
}

extension FaultMode {
    /// Whether the proxy keeps reading from the socket that feeds `direction`.
    /// Not reading is how a dead path is simulated: the sender's TCP buffers fill up and stay full,
    /// instead of the bytes vanishing into a proxy that still acknowledges them.
    func reads(_ direction: FaultDirection) -> Bool {
        switch self {
        case .pass: true
        case .halfOpen: false
        }
    }

    /// Whether a close (EOF or reset) seen on the socket feeding `direction` is passed on to the
    /// other socket. A dead path loses FINs just as it loses data.
    func propagatesClose(_ direction: FaultDirection) -> Bool {
        switch self {
        case .pass: true
        case .halfOpen: false
        }
    }
}
