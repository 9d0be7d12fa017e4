import RMMProtocol
import RMMTransport

/// How an agent answers the server's messages that carry no seq; shared with the fleet simulator.
public enum UnsequencedMessage {
    /// Answers a probe at once, and closes with 1002 on anything a server must not send mid-session.
    /// Returns the id of a server heartbeat, which the agent echoes to prove its downlink.
    public static func handle(_ message: Message, on link: WebSocketLink) -> Int? {
        switch message {
        case .heartbeat(let heartbeat):
            return heartbeat.id
        case .probe(let probe):
            // Answered by the consumer, so a probe proves the whole data path end to end.
            link.send(Envelope(.probeReply(ProbeReply(id: probe.id, receivedBytes: probe.size))))
        case .welcome, .challenge:
            link.close(.protocolError, reason: "unexpected \(message.type) mid-session")
        default:
            link.close(.protocolError, reason: "'\(message.type)' is not something a server sends")
        }
        return nil
    }
}
