/// A prepaid package: one payment buys `units` for the paying client; routes naming it share one balance.
public struct PackageDesign: Sendable, Hashable, Codable {
    public var name: String
    public var units: Int
}
