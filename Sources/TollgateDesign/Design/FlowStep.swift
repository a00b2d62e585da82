/// One step of the request flow as this configuration runs it, in pipeline order.
public struct FlowStep: Sendable, Hashable, Codable {
    /// Stable id (`admit_unpaid`, `facilitator_verify`, …).
    public var id: String
    public var title: String
    public var lane: FlowLane
    public var owner: StepOwner
    /// false when nothing in this configuration uses the step (no package, no `settle: before`…).
    public var active: Bool
    /// What the step checks, in general.
    public var checks: [String]
    /// What this configuration sets for it, with its numbers.
    public var configuration: [String]
    /// The answers it can give instead of going on (`429 rate_limited_paid`).
    public var refusals: [String]
    /// The audit events it writes, as emitted.
    public var audit: [AuditSignal]

    public init(id: String, title: String, lane: FlowLane, owner: StepOwner, active: Bool = true, checks: [String],
                configuration: [String] = [], refusals: [String] = [], audit: [AuditSignal] = []) {
        self.id = id
        self.title = title
        self.lane = lane
        self.owner = owner
        self.active = active
        self.checks = checks
        self.configuration = configuration
        self.refusals = refusals
        self.audit = audit
    }
}
