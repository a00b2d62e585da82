extension AuditEvent.Stage {
    /// An operator action (revocation, incident switch) through the admin API.
    public static let admin = AuditEvent.Stage("admin")
}

/// Audit events for operator actions: each action is its own flow (`admin_<hex>`), so
/// `tollgate trace admin_…` shows it, and the actor is recorded as the client.
public enum AdminEvent {
    /// `what` names the action (`revoke`, `unrevoke`, `incident_on`, `incident_off`).
    public static func make(_ what: String, actor: String, timeMillis: Int64, resource: String? = nil,
                            details: [String: String]) -> AuditEvent {
        AuditEvent(correlationId: correlationId(), timeMillis: timeMillis, stage: .admin, outcome: .ok, reason: what,
                   clientId: actor, resource: resource, details: details.merging(["what": what]) { current, _ in current })
    }

    /// 64 random bits, hex, prefixed.
    public static func correlationId() -> String { "admin_" + randomHex() }

    /// Incident ids: 64 random bits, hex, prefixed.
    public static func incidentId() -> String { "inc_" + randomHex() }

    /// 64 random bits as 16 hex digits: the random part of every short Tollgate id (operator actions, incidents, refunds, disputes).
    public static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        return HexString.encode(withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }
}
