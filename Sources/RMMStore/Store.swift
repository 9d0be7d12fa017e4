/// Durable state of a GuruRMM server: every role the server is wired with, in one value.
///
/// The store is split into roles by what their callers use together; each part of the server
/// takes only the roles it needs, and a backend implements all of them. Every method returns
/// only after its effect is durable. An action that an operator answers for takes its audit
/// entry as an argument and stores both in one transaction: the entry is never written without
/// the action, nor the action without the entry.
public typealias Store = TokenStore & AgentStore & LivenessStore & DeliveryStore & CommandStore & BatchStore & VerdictStore
    & AuditStore & SettingsStore & SessionRouteStore & ClusterStore & CancelRequestStore & ConsoleSessionStore & MetricHistoryStore
