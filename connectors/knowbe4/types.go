package knowbe4

// The Reporting API's objects, as far as this package reads them
// (https://developer.knowbe4.com/, sections Users, Groups and Training:
// "Get a List of All Users", "Get a List of All Groups", "Get a List of All
// Training Enrollments"). Absent and null fields decode as zero values.

type user struct {
	ID               int64   `json:"id"`
	EmployeeNumber   string  `json:"employee_number"`
	FirstName        string  `json:"first_name"`
	LastName         string  `json:"last_name"`
	JobTitle         string  `json:"job_title"`
	Email            string  `json:"email"`
	Location         string  `json:"location"`
	ManagerEmail     string  `json:"manager_email"`
	ProvisioningGUID string  `json:"provisioning_guid"`
	Groups           []int64 `json:"groups"`
	JoinedOn         string  `json:"joined_on"`
	LastSignIn       string  `json:"last_sign_in"`
	Status           string  `json:"status"`
	Department       string  `json:"department"`
	ArchivedAt       string  `json:"archived_at"`
}

type group struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type enrollment struct {
	ID           int64  `json:"enrollment_id"`
	ModuleName   string `json:"module_name"`
	CampaignName string `json:"campaign_name"`
	User         struct {
		ID int64 `json:"id"`
	} `json:"user"`
	CompletionDate string `json:"completion_date"`
	Status         string `json:"status"`
}
