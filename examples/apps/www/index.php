<?php
// Which worker answered, and as whom: the reload test sees new workers.
printf("hello from php-fpm worker %d uid %d\n", getmypid(), posix_geteuid());
