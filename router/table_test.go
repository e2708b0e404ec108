package router

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	t.Parallel()
	m := map[string]*node{}
	for i := range 5000 {
		k := "resource" + strconv.Itoa(i)
		m[k] = &node{lit: k}
	}
	m[""] = &node{lit: ""}
	m["é"] = &node{lit: "é"}
	tab := newTable(m)
	require.NotNil(t, tab)
	for k, v := range m {
		assert.Same(t, v, tab.get(k), "key %q", k)
		assert.Same(t, v, tab.getBytes([]byte(k)), "key %q as bytes", k)
	}
	for _, k := range []string{"resource5000", "resource", "x", "resourcf0", "Resource1"} {
		assert.Nil(t, tab.get(k), "absent key %q", k)
	}
}

func TestTableGivesUpOnClusters(t *testing.T) {
	t.Parallel()
	// Same length, same first and last four bytes: the same hash.
	m := map[string]*node{}
	for i := range 20 {
		k := "abcd" + strconv.Itoa(10+i) + "wxyz"
		m[k] = &node{lit: k}
	}
	assert.Nil(t, newTable(m))

	// The router falls back to a map for such children and still matches.
	var rs []Route
	for k := range m {
		rs = append(rs, Route{Pattern: "/" + k + "/{id}", Handler: named(k), Name: k})
	}
	rt := mustNew(t, rs)
	assert.Nil(t, rt.root.tab)
	assert.NotNil(t, rt.root.litMap)
	for k := range m {
		got, _ := matchName(t, rt, "GET", "/"+k+"/1", nil)
		assert.Equal(t, k, got)
	}
	got, _ := matchName(t, rt, "GET", "/abcd99wxyz/1", nil)
	assert.Equal(t, "", got)
}
