package members

import (
	"fmt"
	"math/rand/v2"
	"time"

	"heartline/site/demoid"
)

// Id ranges (site/demoid, shared with scripts/demo). Demo members are FirstDemoID …
// FirstDemoID+n-1 (stable for a given n, whatever the seed); accounts created by sign-up
// start at FirstSignupID so the ranges never meet.
const (
	FirstDemoID   = demoid.First
	MaxDemo       = demoid.Max
	FirstSignupID = demoid.FirstSignup
)

// DemoEmail is the login e-mail of demo member id (the reserved .invalid domain: no real address).
func DemoEmail(id uint64) string { return fmt.Sprintf("demo%d@heartline.invalid", id) }

// DemoOptions configure GenerateDemo.
type DemoOptions struct {
	N int // number of members (1..MaxDemo)
	// Seed makes the profiles reproducible; ids do not depend on it.
	Seed uint64
	// PasswordHash is the encoded hash of the shared demo password (site/auth.HashPassword).
	PasswordHash string
	Now          time.Time
}

var (
	nickA  = []string{"晴天", "安静", "慢热", "爱笑", "温柔", "认真", "阳光", "清风", "南方", "北岛", "橘子", "星河", "小鹿", "月光", "海盐", "微雨", "青柠", "初夏", "暖冬", "山野"}
	nickB  = []string{"的猫", "小雨", "旅人", "读者", "书虫", "行者", "日记", "汽水", "咖啡", "木马", "云朵", "跑者", "画家", "厨师", "白桦", "鲸鱼", "诗人", "飞鸟", "晚风", "蒲公英"}
	cities = []string{"北京", "上海", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "苏州", "重庆", "厦门", "青岛", "长沙", "天津"}
	edu    = []string{"大专", "本科", "本科", "硕士", "硕士", "博士"}
	jobs   = []string{"软件工程师", "教师", "医生", "设计师", "产品经理", "会计", "律师", "护士", "摄影师", "公务员", "建筑师", "市场经理", "研究员", "厨师", "自由职业"}
	likes  = []string{"徒步", "摄影", "烘焙", "跑步", "阅读", "电影", "旅行", "猫", "狗", "咖啡", "羽毛球", "游泳", "吉他", "围棋", "露营", "看展", "骑行", "做饭", "瑜伽", "桌游"}
	bios   = []string{
		"周末喜欢%s和%s，想找个聊得来的人。",
		"工作在%s，生活在别处。希望遇见一个同样喜欢%s的人。",
		"慢热但真诚，喜欢%s，相信日久生情。最近迷上了%s。",
		"简单的人，想要简单的幸福。平时爱好%s、%s。",
		"来自%s，爱%s，期待和你分享生活里的小确幸。",
	}
)

// GenerateDemo returns n synthetic members with ids FirstDemoID…FirstDemoID+n-1. The
// profiles are made up from word lists; they describe nobody.
func GenerateDemo(o DemoOptions) ([]*Member, error) {
	var out []*Member
	err := EachDemo(o, func(m *Member) error { out = append(out, m); return nil })
	return out, err
}

// EachDemo calls f with each of GenerateDemo's members in id order without holding them all
// in memory (a million profiles stream into the database in constant memory). f owns m.
func EachDemo(o DemoOptions, f func(m *Member) error) error {
	if o.N < 1 || o.N > MaxDemo {
		return fmt.Errorf("members: demo member count %d: use 1..%d", o.N, MaxDemo)
	}
	if o.PasswordHash == "" {
		return fmt.Errorf("members: demo members need the demo password's hash")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6865617274))
	for i := range o.N {
		if err := f(demoMember(rng, FirstDemoID+uint64(i), o)); err != nil {
			return err
		}
	}
	return nil
}

func demoMember(rng *rand.Rand, id uint64, o DemoOptions) *Member {
	m := &Member{
		ID:           id,
		Email:        DemoEmail(id),
		PasswordHash: o.PasswordHash,
		Nickname:     nickA[rng.IntN(len(nickA))] + nickB[rng.IntN(len(nickB))],
		BirthYear:    o.Now.Year() - 22 - rng.IntN(19),
		City:         cities[rng.IntN(len(cities))],
		Education:    edu[rng.IntN(len(edu))],
		Occupation:   jobs[rng.IntN(len(jobs))],
		Demo:         true,
		Verified:     true,
		CreatedAt:    o.Now.Add(-time.Duration(rng.IntN(365*24)) * time.Hour).UTC().Truncate(time.Second),
		// Active some time in the last 30 days; presence moves it to "now" while online.
		LastActive:         o.Now.Add(-time.Duration(rng.IntN(30*24*3600)) * time.Second).UnixMilli(),
		PresenceVisibility: VisibleToMembers,
	}
	if rng.IntN(2) == 0 {
		m.Gender, m.HeightCM = "female", 155+rng.IntN(20)
	} else {
		m.Gender, m.HeightCM = "male", 167+rng.IntN(20)
	}
	a, b, c := rng.IntN(len(likes)), rng.IntN(len(likes)-1), rng.IntN(len(likes)-2)
	// three distinct interests without allocating a permutation per member
	if b >= a {
		b++
	}
	lo, hi := min(a, b), max(a, b)
	if c >= lo {
		c++
	}
	if c >= hi {
		c++
	}
	m.Interests = []string{likes[a], likes[b], likes[c]}
	tmpl := rng.IntN(len(bios))
	switch tmpl {
	case 1, 4:
		m.Bio = fmt.Sprintf(bios[tmpl], m.City, m.Interests[0])
	default:
		m.Bio = fmt.Sprintf(bios[tmpl], m.Interests[0], m.Interests[1])
	}
	return m
}
