"""The RFC endpoints of a running tokengate, used by Authlib (requests) over verified https.

Usage: python authlib_client.py ISSUER CA_FILE CLIENT_ID CLIENT_SECRET SCOPE

Discovers the RFC 8414 metadata at ISSUER and validates it with Authlib, gets a
client_credentials token (client_secret_basic), introspects it (RFC 7662), revokes it
(RFC 7009) and introspects it again. The server's certificate is verified against CA_FILE
only. Prints one JSON object (never the token) and exits 0; any failure is an exception
(exit 1) naming what failed.
"""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata


def main(issuer, ca_file, client_id, client_secret, scope):
    http = requests.Session()
    http.verify = ca_file
    well_known = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
    answer = http.get(well_known, timeout=10)
    answer.raise_for_status()
    metadata = AuthorizationServerMetadata(answer.json())
    metadata.validate()
    if metadata["issuer"] != issuer:
        raise SystemExit(f"issuer {metadata['issuer']!r} is not {issuer!r}")

    session = OAuth2Session(client_id, client_secret, scope=scope)
    session.verify = ca_file
    token = session.fetch_token(
        metadata["token_endpoint"], grant_type="client_credentials", timeout=10
    )
    access_token = token["access_token"]

    def introspect():
        answer = session.introspect_token(
            metadata["introspection_endpoint"], token=access_token, timeout=10
        )
        answer.raise_for_status()
        return answer.json()

    before = introspect()
    revoked = session.revoke_token(
        metadata["revocation_endpoint"],
        token=access_token,
        token_type_hint="access_token",
        timeout=10,
    )
    revoked.raise_for_status()
    after = introspect()
    print(
        json.dumps(
            {
                "client": "authlib",
                "issuer": metadata["issuer"],
                "token_type": token["token_type"],
                "token_length": len(access_token),
                "scope": token.get("scope"),
                "expires_in": token.get("expires_in"),
                "active_before": before["active"],
                "introspected_client_id": before.get("client_id"),
                "revocation_status": revoked.status_code,
                "active_after": after["active"],
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
