import HTTPTypes

/// A POST that asks its backend to run another method: Rails (`Rack::MethodOverride`), Laravel and Symfony read a
/// `_method` parameter of a POST, in its query or its form body (Laravel in a JSON body too), and run `DELETE /items/5`
/// for `POST /items/5` with `_method=DELETE`. The gateway authorizes, prices and binds the method it sees, so such a
/// request would buy one method's work at another's price and scope. The override headers are removed before
/// forwarding (`Gateway.strippedRequestFields`); a `_method` parameter cannot be removed without changing what was
/// signed and paid for, so the request is refused. Names are read as PHP reads them (leading spaces dropped, `.`,
/// spaces and `[` as `_`: `?.method=` is `_method` to Symfony).
enum MethodOverride {
    static let parameter = "_method"

    /// Where a POST names another method (`query` or `body`); nil when it does not, and for any other method.
    static func named(in request: GatewayRequest) -> String? {
        guard request.method == .post else { return nil }
        if QueryString.items(request.target).contains(where: { isOverride($0.name) }) { return "query" }
        guard !request.body.isEmpty else { return nil }
        let type = request.headerFields[.contentType]?.lowercased() ?? ""
        if type.hasPrefix("application/x-www-form-urlencoded"),
           QueryString.items("?" + String(decoding: request.body, as: UTF8.self)).contains(where: { isOverride($0.name) }) {
            return "body"
        }
        if type.hasPrefix("multipart/form-data"), partNames(request.body).contains(where: isOverride) { return "body" }
        if type.contains("json"), namesOverrideInJSON(request.body) { return "body" }
        return nil
    }

    /// `_method` as PHP reads a parameter name (leading spaces dropped, then `.`, spaces and a `[` that opens no array
    /// as `_`), and as Rack reads it (as it is); `_method[…]`, an array of that name, included.
    static func isOverride(_ name: String) -> Bool {
        let trimmed = name.drop { $0 == " " }
        if trimmed.hasPrefix(parameter + "[") { return true }
        return String(trimmed.map { $0 == "." || $0 == " " || $0 == "[" ? "_" : $0 }) == parameter
    }

    /// The `name=` of every part's `Content-Disposition` line, wherever it stands among the line's parameters.
    static func partNames(_ body: [UInt8]) -> [String] {
        let text = String(decoding: body, as: UTF8.self)
        var names: [String] = []
        for line in text.split(whereSeparator: \.isNewline) where line.lowercased().hasPrefix("content-disposition:") {
            for parameter in line.split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingSpaces().lowercased() == "name" else { continue }
                var value = pair[1].trimmingSpaces()
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                names.append(value)
            }
        }
        return names
    }

    /// A JSON object body with a top-level `_method` member. Parsed only when the bytes hold the name at all.
    static func namesOverrideInJSON(_ body: [UInt8]) -> Bool {
        let needle = Array(parameter.utf8)
        guard body.count >= needle.count,
              (0...(body.count - needle.count)).contains(where: { body[$0..<($0 + needle.count)].elementsEqual(needle) }),
              case .object(let members)? = JSONValue.parse(body) else { return false }
        return members.keys.contains(where: isOverride)
    }
}
