// This file reads the organization's SAML single sign-on identities, which
// GitHub exposes only through its GraphQL API:
// organization.samlIdentityProvider.externalIdentities
// (https://docs.github.com/graphql/reference/objects#organizationidentityprovider,
// https://docs.github.com/graphql/reference/objects#externalidentity).

package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// samlQuery asks for one page of the organization's external identities:
// the SAML NameID and the GitHub user (its numeric databaseId, the key of
// its account) each is linked to.
const samlQuery = `query($login: String!, $first: Int!, $after: String) {
  organization(login: $login) {
    samlIdentityProvider {
      externalIdentities(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { samlIdentity { nameId } user { databaseId } } }
      }
    }
  }
}`

// samlResponse is the GraphQL response to samlQuery.
type samlResponse struct {
	Data struct {
		Organization *struct {
			SAMLIdentityProvider *struct {
				ExternalIdentities struct {
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
					Edges []struct {
						Node struct {
							SAMLIdentity *struct {
								NameID string `json:"nameId"`
							} `json:"samlIdentity"`
							User *struct {
								DatabaseID int64 `json:"databaseId"`
							} `json:"user"`
						} `json:"node"`
					} `json:"edges"`
				} `json:"externalIdentities"`
			} `json:"samlIdentityProvider"`
		} `json:"organization"`
	} `json:"data"`
	Errors []struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"errors"`
}

// graphqlURL returns the GraphQL endpoint beside the REST API at base:
// https://api.github.com/graphql, or https://HOST/api/graphql for GitHub
// Enterprise Server's https://HOST/api/v3/.
func graphqlURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base + "graphql"
	}
	if p, ok := strings.CutSuffix(u.Path, "/v3/"); ok {
		u.Path = p + "/graphql"
	} else {
		u.Path += "graphql"
	}
	return u.String()
}

// readSAML reads a page of external identities into c.nameIDs. after is
// the GraphQL cursor ("" for the first page).
func (c *connector) readSAML(ctx context.Context, after string) (resync.Page, error) {
	vars := map[string]any{"login": c.org, "first": c.pageSize}
	if after != "" {
		vars["after"] = after
	}
	body, err := json.Marshal(map[string]any{"query": samlQuery, "variables": vars})
	if err != nil {
		return resync.Page{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.graphql, bytes.NewReader(body))
	if err != nil {
		return resync.Page{}, resync.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.kit.Do(req)
	if err != nil {
		return resync.Page{}, fmt.Errorf("github connector (org %s): SAML identities: %w", c.org, err)
	}
	var r samlResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("github connector (org %s): SAML identities: the GraphQL answer is not the JSON expected: %v", c.org, err))
	}
	if len(r.Errors) > 0 {
		e := r.Errors[0]
		err := fmt.Errorf("github connector (org %s): SAML identities: GraphQL error %s: %s", c.org, e.Type, e.Message)
		if e.Type == "RATE_LIMITED" {
			// GraphQL answers a spent point quota with 200 and this error;
			// the x-ratelimit-* fields say when it resets.
			d := time.Minute
			if reset := resp.RateLimit.Reset; !reset.IsZero() {
				d = max(time.Until(reset), time.Second)
			}
			return resync.Page{}, resync.RetryAfter(err, d)
		}
		// FORBIDDEN (a token without admin:org, or not an owner's),
		// NOT_FOUND (an unknown organization): asking again will not help.
		return resync.Page{}, resync.Permanent(fmt.Errorf("%w (set \"saml\" to \"false\" to read without SAML identities)", err))
	}
	page := resync.Page{NotBefore: pace(resp.Header)}
	org := r.Data.Organization
	if org == nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("github connector (org %s): SAML identities: the GraphQL answer has no organization", c.org))
	}
	if idp := org.SAMLIdentityProvider; idp != nil {
		for _, e := range idp.ExternalIdentities.Edges {
			if n := e.Node; n.User != nil && n.User.DatabaseID != 0 && n.SAMLIdentity != nil && n.SAMLIdentity.NameID != "" {
				c.nameIDs[n.User.DatabaseID] = n.SAMLIdentity.NameID
			}
		}
		if pi := idp.ExternalIdentities.PageInfo; pi.HasNextPage && pi.EndCursor != "" {
			page.Next = samlCursor + pi.EndCursor
			return page, nil
		}
	}
	// No SSO (samlIdentityProvider null), or the last page.
	c.samlDone = true
	page.Next = c.first(phase2FA).String()
	return page, nil
}

// samlCursor prefixes the GraphQL cursor of a page of identities.
const samlCursor = "saml:"
