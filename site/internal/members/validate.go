package members

import (
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the sign-up form; the HTML form carries the same limits as attributes.
const (
	NicknameMin = 2
	NicknameMax = 20
	PasswordMin = 8
	PasswordMax = 128
	BioMax      = 300
	EmailMax    = 254
	AgeMin      = 18
	AgeMax      = 80
)

// Cities offered by the sign-up form.
func Cities() []string { return cities }

// Signup is the sign-up form as submitted.
type Signup struct {
	Nickname, Email, Password, Confirm, Gender, BirthYear, City, Bio string
}

// Errors maps a form field name to a message for the user (Chinese). Empty: valid.
type Errors map[string]string

// Validate checks the form and returns the member it describes (without id and hash) and
// the problems found. Messages say what to change.
func (f *Signup) Validate(now time.Time) (*Member, Errors) {
	errs := Errors{}
	nick := strings.TrimSpace(f.Nickname)
	if msg := nicknameProblem(nick); msg != "" {
		errs["nickname"] = msg
	}
	email := strings.TrimSpace(f.Email)
	if email == "" {
		errs["email"] = "请填写邮箱。"
	} else if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > EmailMax || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		errs["email"] = "邮箱格式不正确，例如 name@example.com。"
	}
	if msg := PasswordProblem(f.Password); msg != "" {
		errs["password"] = msg
	}
	if f.Confirm != f.Password {
		errs["confirm"] = "两次输入的密码不一致。"
	}
	if f.Gender != "female" && f.Gender != "male" {
		errs["gender"] = "请选择性别。"
	}
	year, err := strconv.Atoi(strings.TrimSpace(f.BirthYear))
	if err != nil {
		errs["birth_year"] = "请填写出生年份，例如 1995。"
	} else if age := now.Year() - year; age < AgeMin || age > AgeMax {
		errs["birth_year"] = "注册需年满 18 周岁（且不超过 80 岁）。"
	}
	city := strings.TrimSpace(f.City)
	if !contains(cities, city) {
		errs["city"] = "请选择所在城市。"
	}
	bio := strings.TrimSpace(f.Bio)
	if textHasInvisible(bio) {
		errs["bio"] = "自我介绍不能包含方向控制符或不可见字符。"
	} else if utf8.RuneCountInString(bio) > BioMax {
		errs["bio"] = "自我介绍最多 300 字。"
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &Member{Email: email, Nickname: nick, Gender: f.Gender, BirthYear: year, City: city, Bio: bio, CreatedAt: now.UTC().Truncate(time.Second),
		LastActive: now.UnixMilli(), PresenceVisibility: VisibleToMembers}, nil
}

// PasswordProblem is what is wrong with a new password, or "".
func PasswordProblem(pw string) string {
	switch n := utf8.RuneCountInString(pw); {
	case n < PasswordMin:
		return "密码至少 8 位。"
	case n > PasswordMax:
		return "密码最多 128 位。"
	case !hasLetterAndDigit(pw):
		return "密码需同时包含字母和数字。"
	}
	return ""
}

// nicknameProblem is what is wrong with a (trimmed) nickname, or "".
func nicknameProblem(nick string) string {
	switch n := utf8.RuneCountInString(nick); {
	case n == 0:
		return "请填写昵称。"
	case n < NicknameMin || n > NicknameMax:
		return "昵称长度需为 2–20 个字符。"
	case strings.IndexFunc(nick, func(r rune) bool { return Invisible(r) || r == '<' || r == '>' }) >= 0:
		return "昵称不能包含控制字符、方向控制符、不可见字符或尖括号。"
	}
	return ""
}

// Invisible reports control, format and other invisible characters: C0/C1 controls, bidi
// controls (U+202A–202E, U+2066–2069, U+200E/200F, U+061C), zero-width characters (U+200B–
// U+200D, U+2060, U+FEFF), other format characters (Unicode Cf), private-use and
// unassigned code points, line/paragraph separators, and filler characters that render as
// blanks (U+3164, U+115F, U+1160, U+FFA0). They let a name look like someone else's or
// reorder the text around it (U+202E), so names and short fields refuse them.
func Invisible(r rune) bool {
	switch r {
	case 0x3164, 0x115F, 0x1160, 0xFFA0, 0x2028, 0x2029, 0x034F, 0x180E:
		return true
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Cs, r) ||
		!unicode.Is(unicode.L, r) && !unicode.Is(unicode.M, r) && !unicode.Is(unicode.N, r) && !unicode.Is(unicode.P, r) &&
			!unicode.Is(unicode.S, r) && !unicode.Is(unicode.Zs, r)
}

// textProblem reports whether free text (a bio: newlines allowed) has invisible characters.
func textHasInvisible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && Invisible(r) }) >= 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasLetterAndDigit(s string) bool {
	var l, d bool
	for _, r := range s {
		l = l || unicode.IsLetter(r)
		d = d || unicode.IsDigit(r)
	}
	return l && d
}
