/// Bearer JWTs as identities: what the tokens must say and where the keys come from.
public struct JWTDesign: Sendable, Hashable, Codable {
    public var issuer: String
    public var audience: String
    /// `jwks_file PATH` or `pem_file PATH`.
    public var keys: [String]
}
