# Chart of a bench/run.sh --guest-tcp result: one column per direction; top
# row iperf3 Gbit/s guest to guest, bottom row TCP retransmissions of the
# sender. Bars are the median over the rounds that worked, whiskers the worst
# and best round; a backend that never worked shows FAILED instead of a bar.
# run.py writes the data file and calls:
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; dirs='a2b b2a'" bench/plot-tcp.gp
# Data columns: backend, then for each direction in order: Gbit/s
# median/min/max, retransmits median/min/max, number of runs that worked.
if (!exists("datafile")) datafile = 'bench/results/latest-tcp.dat'
if (!exists("outfile")) outfile = 'bench/results/latest-tcp.png'
if (!exists("dirs")) dirs = 'a2b'

n = words(dirs)
set terminal pngcairo size (560 * n), 760 font ",10"
set output outfile
set multiplot layout 2, n title "guest TCP through each switch: two QEMU guests (TCG), iperf3; median of interleaved rounds, whiskers min-max"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics rotate by -25 nomirror
name(d) = (d eq "a2b") ? "guest a -> b" : "guest b -> a (iperf3 -R)"
do for [i = 1:n] {
    set title name(word(dirs, i)) . ": throughput"
    set ylabel "Gbit/s"
    c = 2 + 7 * (i - 1)
    ok = 8 + 7 * (i - 1)
    plot datafile using 0:c:xtic(1) with boxes lc rgb "#4477aa" notitle, \
         '' using 0:c:(column(c + 1)):(column(c + 2)) with yerrorbars lc rgb "black" pt -1 notitle, \
         '' using 0:c:(column(ok) == 0 ? "FAILED" : sprintf("%.2f", column(c))) with labels offset 0, 0.8 notitle
}
do for [i = 1:n] {
    set title name(word(dirs, i)) . ": TCP retransmissions per run (lower is better)"
    set ylabel "retransmitted segments"
    c = 5 + 7 * (i - 1)
    ok = 8 + 7 * (i - 1)
    plot datafile using 0:c:xtic(1) with boxes lc rgb "#cc6677" notitle, \
         '' using 0:c:(column(c + 1)):(column(c + 2)) with yerrorbars lc rgb "black" pt -1 notitle, \
         '' using 0:c:(column(ok) == 0 ? "FAILED" : sprintf("%.0f", column(c))) with labels offset 0, 0.8 notitle
}
unset multiplot
