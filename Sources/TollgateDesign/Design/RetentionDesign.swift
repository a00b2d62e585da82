/// Audit retention: events older than `days` are archived, then deleted from the live table.
public struct RetentionDesign: Sendable, Hashable, Codable {
    public var days: Int
    public var archiveDirectory: String
    public var intervalSeconds: Int
}
