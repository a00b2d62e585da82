/// A choice this configuration leaves to the team before launch, with the facts that raise it.
public struct OpenDecision: Sendable, Hashable, Codable {
    /// Stable id (`spend_caps`, `audit_retention`, …).
    public var id: String
    public var title: String
    public var question: String
    /// What in this configuration raises it.
    public var facts: [String]
    /// Ways to decide it.
    public var options: [String]
}
