/// Every operator action that needs more than the viewer role, with the least role that may take
/// it: the one authorization table that the API's routes and the console's forms both check
/// (`OperatorContext.require(_:)`), so a role may do exactly the same through either.
enum OperatorAction: String, Sendable, CaseIterable {
    case runCommands
    case cancelCommands
    case evictAgents
    case renameAgents
    case diagnoseLinks
    case listEnrollmentTokens
    case revokeAgents
    case createEnrollmentTokens
    case revokeEnrollmentTokens
    case manageAPITokens
    case configureFleet
    /// Naming sites by address ranges on the console's sites page.
    case nameSites

    /// The least role that may take this action.
    var role: OperatorRole {
        switch self {
        case .runCommands, .cancelCommands, .evictAgents, .renameAgents, .diagnoseLinks, .listEnrollmentTokens:
            return .operator
        case .revokeAgents, .createEnrollmentTokens, .revokeEnrollmentTokens, .manageAPITokens, .configureFleet, .nameSites:
            return .admin
        }
    }

    /// Whether `role` may take this action.
    func allows(_ role: OperatorRole?) -> Bool {
        guard let role else { return false }
        return role >= self.role
    }
}
