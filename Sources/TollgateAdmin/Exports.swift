/// `GatewayServer` composes the proxy of TollgateHTTP with the admin listener: whoever imports TollgateAdmin gets
/// TollgateHTTP (and the configuration model it re-exports) with it.
@_exported import TollgateHTTP
