extension InitAnswers {
    /// Question 4: the scopes that exist and which of them the resource needs.
    public struct Permissions: Sendable, Hashable, Codable {
        /// The scopes clients already hold (`reports:read`); API clients get them by default.
        public var scopes: [String]?
        /// The scope every caller of the resource needs (not with anonymous payers).
        public var scope: String?
        /// The scope write actions need besides `scope` (not read-only resources).
        public var writeScope: String?
        /// More actions with their own scope: `"?export": datasets:export`, `DELETE: datasets:admin`.
        public var actionScopes: [String: String]?
        /// Response fields removed unless the client holds `scope`.
        public var privateFields: PrivateFields?

        public init(scopes: [String]? = nil, scope: String? = nil, writeScope: String? = nil, actionScopes: [String: String]? = nil,
                    privateFields: PrivateFields? = nil) {
            self.scopes = scopes
            self.scope = scope
            self.writeScope = writeScope
            self.actionScopes = actionScopes
            self.privateFields = privateFields
        }

        enum CodingKeys: String, CodingKey {
            case scopes, scope
            case writeScope = "write_scope"
            case actionScopes = "action_scopes"
            case privateFields = "private_fields"
        }
    }

    public struct PrivateFields: Sendable, Hashable, Codable {
        public var scope: String?
        public var fields: [String]?

        public init(scope: String? = nil, fields: [String]? = nil) {
            self.scope = scope
            self.fields = fields
        }
    }
}
