package atlassian

// Jira Cloud platform REST API v3 objects, as far as this package reads them
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
// "Users: Get all users" (GET /rest/api/3/users/search, a bare array of
// User), "Groups: Bulk get groups" (GET /rest/api/3/group/bulk,
// PageBeanGroupDetails), "Groups: Get users from group" (GET
// /rest/api/3/group/member, PageBeanUserDetails) and "Application roles: Get
// all application roles" (GET /rest/api/3/applicationrole).

type user struct {
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"`
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
	Active       bool   `json:"active"`
}

type groupDetails struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name"`
}

// pageBean is Jira's paged list: startAt, maxResults, total, isLast, values.
type pageBean[T any] struct {
	StartAt    int  `json:"startAt"`
	MaxResults int  `json:"maxResults"`
	Total      int  `json:"total"`
	IsLast     bool `json:"isLast"`
	Values     []T  `json:"values"`
}

type appRole struct {
	Key          string         `json:"key"`
	Name         string         `json:"name"`
	GroupDetails []groupDetails `json:"groupDetails"`
}
