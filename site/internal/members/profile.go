package members

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Profile is the part of a member the member edits.
type Profile struct {
	Nickname, City, Education, Occupation, Bio string
	HeightCM                                   int
	Interests                                  []string
}

// ProfileOf returns m's editable fields.
func ProfileOf(m *Member) Profile {
	return Profile{Nickname: m.Nickname, City: m.City, Education: m.Education, Occupation: m.Occupation, Bio: m.Bio, HeightCM: m.HeightCM, Interests: m.Interests}
}

// ProfileForm is the profile form as submitted.
type ProfileForm struct {
	Nickname, City, Education, Occupation, Bio, HeightCM string
	Interests                                            []string
}

// Choices offered by the profile form.
func Educations() []string { return []string{"大专", "本科", "硕士", "博士"} }

// Interests offered by the profile form (checkboxes).
func Interests() []string { return likes }

// Limits of the profile form.
const (
	OccupationMax = 20
	HeightMin     = 140
	HeightMax     = 220
	InterestsMax  = 6
)

// Validate checks the form and returns the profile it describes, or the problems found.
func (f *ProfileForm) Validate() (Profile, Errors) {
	errs := Errors{}
	p := Profile{Nickname: strings.TrimSpace(f.Nickname), City: strings.TrimSpace(f.City), Education: strings.TrimSpace(f.Education),
		Occupation: strings.TrimSpace(f.Occupation), Bio: strings.TrimSpace(f.Bio)}
	if msg := nicknameProblem(p.Nickname); msg != "" {
		errs["nickname"] = msg
	}
	if !contains(cities, p.City) {
		errs["city"] = "请选择所在城市。"
	}
	if p.Education != "" && !contains(Educations(), p.Education) {
		errs["education"] = "请从列表中选择学历。"
	}
	if n := utf8.RuneCountInString(p.Occupation); n > OccupationMax || strings.ContainsAny(p.Occupation, "<>\r\n") || textHasInvisible(p.Occupation) {
		errs["occupation"] = "职业最多 20 个字，且不能包含尖括号、换行、方向控制符或不可见字符。"
	}
	if textHasInvisible(p.Bio) {
		errs["bio"] = "自我介绍不能包含方向控制符或不可见字符。"
	} else if utf8.RuneCountInString(p.Bio) > BioMax {
		errs["bio"] = "自我介绍最多 300 字。"
	}
	if h := strings.TrimSpace(f.HeightCM); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < HeightMin || n > HeightMax {
			errs["height_cm"] = "身高请填写 140–220 之间的整数（厘米），或留空。"
		}
		p.HeightCM = n
	}
	seen := map[string]bool{}
	for _, i := range f.Interests {
		if !contains(likes, i) {
			errs["interests"] = "请从列表中选择兴趣。"
			break
		}
		if !seen[i] {
			seen[i] = true
			p.Interests = append(p.Interests, i)
		}
	}
	if len(p.Interests) > InterestsMax {
		errs["interests"] = "兴趣最多选 6 个。"
	}
	if len(errs) > 0 {
		return Profile{}, errs
	}
	return p, nil
}
