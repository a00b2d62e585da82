/// The answers to the seven questions of `tollgate init`, as given: typed in at a terminal, read from an
/// answers file (`--answers`, YAML or JSON, the same field names in snake_case) or passed as flags.
///
/// Every field is optional here; `InitPlan` applies the defaults, checks every value and reports what is
/// missing or inconsistent. The format is documented in docs/init.md.
public struct InitAnswers: Sendable, Hashable, Codable {
    /// 1. What is protected.
    public var resource = Resource()
    /// 2. Who sends requests: `human`, `script`, `agent`, `integration`.
    public var callers: [String]?
    /// 2. How those callers are identified.
    public var identity = Identity()
    /// 3. What is billed.
    public var billing = Billing()
    /// 4. The roles and permissions that exist.
    public var permissions = Permissions()
    /// 5. The limits before and after payment.
    public var limits = Limits()
    /// 6. What the audit log keeps.
    public var audit = Audit()
    /// 7. The failures and refunds to handle.
    public var failures = Failures()
    /// Where the gateway itself listens (not one of the questions; defaults suit a first run).
    public var gateway = Gateway()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case resource, callers, identity, billing, permissions, limits, audit, failures, gateway
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        resource = try container.decodeIfPresent(Resource.self, forKey: .resource) ?? .init()
        callers = try container.decodeIfPresent([String].self, forKey: .callers)
        identity = try container.decodeIfPresent(Identity.self, forKey: .identity) ?? .init()
        billing = try container.decodeIfPresent(Billing.self, forKey: .billing) ?? .init()
        permissions = try container.decodeIfPresent(Permissions.self, forKey: .permissions) ?? .init()
        limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? .init()
        audit = try container.decodeIfPresent(Audit.self, forKey: .audit) ?? .init()
        failures = try container.decodeIfPresent(Failures.self, forKey: .failures) ?? .init()
        gateway = try container.decodeIfPresent(Gateway.self, forKey: .gateway) ?? .init()
    }
}
