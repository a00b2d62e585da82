/// The three traffic-class limits in force in one scope (the whole gateway, or one route).
public struct ClassLimitsDesign: Sendable, Hashable, Codable {
    /// `global`, or a route's resource id.
    public var scope: String
    /// `defaults` (the global limits equal the built-in defaults), `configured` (global, from the file),
    /// `route` (the route's own `limits:`) or `global` (a route without its own).
    public var source: String
    /// nil: the class is `off` (not limited).
    public var unpaid: RateFigure?
    public var paid: RateFigure?
    public var invalid: RateFigure?

    /// The limit of one class by name (`unpaid`, `paid`, `invalid`).
    public func figure(_ trafficClass: String) -> RateFigure? {
        switch trafficClass {
        case "unpaid": unpaid
        case "paid": paid
        default: invalid
        }
    }

    /// `50/s, burst 100`, or `off`.
    public func text(_ trafficClass: String) -> String {
        figure(trafficClass)?.description ?? "off"
    }
}
