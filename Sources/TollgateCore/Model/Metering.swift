import Foundation
import HTTPTypes

/// How a paid route counts what it sells: the unit, how many units a request asks for (and so what it
/// costs), how consumption is measured from the upstream's answer, when units count as consumed, when
/// the payment is settled, and whether payments buy a prepaid package.
public struct Metering: Sendable, Hashable {
    /// The units a route can bill in.
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        case request, record, byte, second, package
    }

    /// How many units one request asks for.
    public enum Quantity: Sendable, Hashable {
        /// Always this many: the price is per request (or per package).
        case fixed(Int)
        /// From a query parameter: the price is per unit and the 402 quotes price × quantity.
        case query(name: String, defaultValue: Int?, maximum: Int)
        /// From a field of the JSON request body (a dotted path), like `query`.
        case body(path: String, defaultValue: Int?, maximum: Int)
    }

    /// How the units a delivered request consumed are counted.
    public enum Measure: Sendable, Hashable {
        /// What was asked for (requests, fixed quantities, and anything the upstream cannot report).
        case quoted
        /// A decimal count in this upstream response header (records, seconds of work).
        case header(String)
        /// The length of the JSON array at this dotted path of the response body ("" = the body itself).
        case jsonArray(String)
        /// The bytes of the delivered body.
        case bodyBytes
        /// Whole seconds the upstream worked (rounded up, at least 1).
        case elapsedSeconds
    }

    /// When a unit counts as consumed (and so when a payment is settled or package units are spent).
    public enum Moment: String, Sendable, Hashable {
        /// The upstream answered below 400 (the default).
        case onSuccess = "on_success"
        /// The upstream answered at all, whatever the status.
        case onRequest = "on_request"
    }

    /// When the payment is settled relative to forwarding.
    public enum SettleTiming: String, Sendable, Hashable {
        /// After a delivered answer (the default): nothing undelivered is ever charged.
        case after
        /// Before forwarding: for work that cannot be undone. What is then not delivered becomes an automatic refund.
        case before
    }

    /// One payment buys `units` for the paying client, spent by later requests without a new payment.
    public struct Package: Sendable, Hashable {
        public var name: String
        public var units: Int
        public init(name: String, units: Int) {
            self.name = name
            self.units = units
        }
    }

    public var unit: Unit
    public var quantity: Quantity
    public var measure: Measure
    public var moment: Moment
    public var settle: SettleTiming
    public var package: Package?

    public init(unit: Unit = .request, quantity: Quantity = .fixed(1), measure: Measure = .quoted, moment: Moment = .onSuccess,
                settle: SettleTiming = .after, package: Package? = nil) {
        self.unit = unit
        self.quantity = quantity
        self.measure = measure
        self.moment = moment
        self.settle = settle
        self.package = package
    }

    /// Whether the price is per unit (times the requested quantity) rather than per request.
    public var pricesPerUnit: Bool {
        if case .fixed = quantity { return false }
        return true
    }

    /// Why a request's quantity cannot be priced (a 400, never a 402).
    public struct QuantityError: Error, Sendable, Hashable {
        public var detail: String
    }

    /// The units this request asks for.
    public func requestedQuantity(_ request: GatewayRequest) -> Result<Int, QuantityError> {
        switch quantity {
        case .fixed(let units):
            return .success(units)
        case .query(let name, let defaultValue, let maximum):
            let values = QueryString.items(request.target).filter { $0.name == name }.map(\.value)
            guard values.count <= 1 else { return .failure(QuantityError(detail: "give \(name) once")) }
            return Self.validated(values.first, name: "query parameter \(name)", defaultValue: defaultValue, maximum: maximum)
        case .body(let path, let defaultValue, let maximum):
            guard !request.body.isEmpty else {
                return Self.validated(nil, name: "body field \(path)", defaultValue: defaultValue, maximum: maximum)
            }
            guard var node = JSONValue.parse(request.body) else {
                return .failure(QuantityError(detail: "the request body is not JSON, so body field \(path) cannot be read"))
            }
            for key in path.split(separator: ".") where !key.isEmpty { node = node[String(key)] ?? .null }
            // Booleans and numeric strings are not quantities.
            let text: String? = node == .null ? nil : node.int.map(String.init) ?? "not a whole number"
            return Self.validated(text, name: "body field \(path)", defaultValue: defaultValue, maximum: maximum)
        }
    }

    /// The most units one answer is counted as consuming, whatever its upstream says.
    public static let maximumMeasured = 1_000_000_000

    /// The units a delivered answer consumed, given what was asked for and how long the upstream took.
    public func consumedUnits(_ answer: UpstreamResponse, quoted: Int, elapsedMillis: Int64) -> Int {
        switch measure {
        case .quoted:
            return quoted
        case .header(let name):
            guard let field = HTTPField.Name(name), let text = answer.headerFields[field]?.trimmingCharacters(in: .whitespaces),
                  let count = Int(text), count >= 0 else { return quoted }
            // An upstream's figure is capped, so sums of usage never overflow (a billion units per request is beyond any meter).
            return min(count, Self.maximumMeasured)
        case .jsonArray(let path):
            guard let root = try? JSONSerialization.jsonObject(with: Data(answer.body), options: [.fragmentsAllowed]),
                  let array = Self.value(at: path, in: root) as? [Any] else { return quoted }
            return array.count
        case .bodyBytes:
            return answer.body.count
        case .elapsedSeconds:
            return max(1, Int((elapsedMillis + 999) / 1000))
        }
    }

    /// Whether an answer with this status consumes units.
    public func consumes(status: Int) -> Bool {
        switch moment {
        case .onSuccess: status < 400
        case .onRequest: true
        }
    }

    static func validated(_ text: String?, name: String, defaultValue: Int?, maximum: Int) -> Result<Int, QuantityError> {
        guard let text else {
            if let defaultValue { return .success(defaultValue) }
            return .failure(QuantityError(detail: "this resource is priced per unit: give the \(name) (1–\(maximum))"))
        }
        guard let value = Int(text), value >= 1 else {
            return .failure(QuantityError(detail: "the \(name) must be a whole number from 1 to \(maximum)"))
        }
        guard value <= maximum else {
            return .failure(QuantityError(detail: "the \(name) is \(value); at most \(maximum) can be bought in one request"))
        }
        return .success(value)
    }

    static func value(at path: String, in root: Any) -> Any? {
        var current: Any? = root
        for key in path.split(separator: ".") where !key.isEmpty {
            current = (current as? [String: Any])?[String(key)]
        }
        return current
    }
}
